#pragma once
// The JPEG and PNG decoders of ImageData, as plain status-returning C functions.
//
// libjpeg and libpng report fatal errors by calling a handler that must not return; the usual
// handler longjmps back to a setjmp in the caller, which Swift cannot be. These wrappers own that
// setjmp, so every failure comes back as a status code and a one-line message. They read from
// memory, never allocate the pixel buffer (the caller does, after checking the header's size),
// and refuse more than `max_pixels` pixels before libjpeg or libpng allocate anything large.
#include <stddef.h>
#include <stdint.h>

/// What a decoder read from a file's header and, after decoding, what went wrong.
typedef struct {
    int32_t width;
    int32_t height;
    /// Interleaved 8-bit samples per pixel written to `pixels`: 1 gray, 2 gray + alpha, 3 RGB,
    /// 4 RGBA (PNG) or CMYK as stored (JPEG, `color_model` 4 or 5).
    int32_t channels;
    /// Bits per sample in the file (JPEG 8 or 12; PNG 1, 2, 4, 8 or 16).
    int32_t bit_depth;
    /// JPEG: the file's J_COLOR_SPACE (1 gray, 2 RGB, 3 YCbCr, 4 CMYK, 5 YCCK);
    /// PNG: the IHDR colour type (0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA).
    int32_t color_model;
    /// JPEG: progressive; PNG: Adam7 interlaced.
    int32_t interlaced;
    /// A one-line description of the failure (empty on success).
    char message[200];
} mfimage_info;

enum {
    MFIMAGE_OK = 0,
    /// The data is damaged or is not the format.
    MFIMAGE_CORRUPT = 1,
    /// The data ends before the image does.
    MFIMAGE_TRUNCATED = 2,
    /// A valid file this decoder does not handle (the message says what).
    MFIMAGE_UNSUPPORTED = 3,
    /// The header declares more than `max_pixels` pixels.
    MFIMAGE_TOO_LARGE = 4,
    /// `capacity` is smaller than width × height × channels.
    MFIMAGE_BUFFER_TOO_SMALL = 5,
};

/// Reads a JPEG's header into `info` and, when `pixels` is not NULL, decodes it into `pixels`
/// (`info->channels` samples per pixel, rows packed): gray files as gray, YCbCr and RGB files as
/// RGB, CMYK and YCCK files as CMYK as stored (Adobe files store them inverted). Decoding uses
/// libjpeg's defaults, as PIL does: accurate integer IDCT, fancy upsampling. A file that ends
/// early is MFIMAGE_TRUNCATED (libjpeg itself would pad it with gray); other libjpeg warnings
/// are ignored, as PIL ignores them. Progressive files may have at most `max_scans` scans.
int mfimage_jpeg_read(const uint8_t *data, size_t size, uint64_t max_pixels, int32_t max_scans,
                      uint8_t *pixels, size_t capacity, mfimage_info *info);

/// Reads a PNG's header into `info` and, when `pixels` is not NULL, decodes it into `pixels`:
/// palettes expanded to RGB (RGBA when the file has transparency), gray below 8 bits scaled to
/// 8 bits, 16-bit samples cut to their high byte (PIL's reading of 16-bit RGB and RGBA). 16-bit
/// gray without alpha is MFIMAGE_UNSUPPORTED (PIL reads it as 32-bit integers, which it clips
/// to 255 when converting to RGB). Gamma, colour profiles and sBIT are ignored, as PIL ignores them.
int mfimage_png_read(const uint8_t *data, size_t size, uint64_t max_pixels,
                     uint8_t *pixels, size_t capacity, mfimage_info *info);
