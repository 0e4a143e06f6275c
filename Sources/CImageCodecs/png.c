#include "CImageCodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>

/// The bytes being read and what went wrong.
typedef struct {
    const uint8_t *data;
    size_t size;
    size_t position;
    int truncated;
    int status;
    char *message;
    /// The last warning: libpng warns with the detail ("Image width is zero in IHDR"), then
    /// fails with a summary ("Invalid IHDR data").
    char warning[120];
} png_source;

static void on_error(png_structp png, png_const_charp text) {
    png_source *source = (png_source *)png_get_error_ptr(png);
    if (source->warning[0] != 0) {
        snprintf(source->message, 200, "%s (%s)", text, source->warning);
    } else {
        snprintf(source->message, 200, "%s", text);
    }
    source->status = source->truncated ? MFIMAGE_TRUNCATED : MFIMAGE_CORRUPT;
    png_longjmp(png, 1);
}

/// libpng's warnings (bad CRCs of ancillary chunks and the like) do not stop PIL either; the
/// last one is kept for the error message.
static void on_warning(png_structp png, png_const_charp text) {
    png_source *source = (png_source *)png_get_error_ptr(png);
    snprintf(source->warning, sizeof(source->warning), "%s", text);
}

static void read_bytes(png_structp png, png_bytep target, size_t count) {
    png_source *source = (png_source *)png_get_io_ptr(png);
    if (count > source->size - source->position) {
        source->truncated = 1;
        png_error(png, "the data ends in the middle of the image");
    }
    memcpy(target, source->data + source->position, count);
    source->position += count;
}

int mfimage_png_read(const uint8_t *data, size_t size, uint64_t max_pixels,
                     uint8_t *pixels, size_t capacity, mfimage_info *info) {
    png_source source = {data, size, 0, 0, MFIMAGE_OK, info->message, {0}};
    memset(info, 0, sizeof(*info));
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, on_error, on_warning);
    if (png == NULL) {
        snprintf(info->message, 200, "out of memory");
        return MFIMAGE_CORRUPT;
    }
    png_infop header = png_create_info_struct(png);
    // Set before the jump target: an array of row pointers freed on every path.
    png_bytep *volatile rows = NULL;
    if (header == NULL || setjmp(png_jmpbuf(png))) {
        free(rows);
        png_destroy_read_struct(&png, header ? &header : NULL, NULL);
        return source.status == MFIMAGE_OK ? MFIMAGE_CORRUPT : source.status;
    }
    png_set_read_fn(png, &source, read_bytes);
    // Our own pixel cap is checked below; libpng's per-side limit must not refuse first.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, header);

    png_uint_32 width = 0, height = 0;
    int depth = 0, color = 0, interlace = 0;
    png_get_IHDR(png, header, &width, &height, &depth, &color, &interlace, NULL, NULL);
    info->width = (int32_t)width;
    info->height = (int32_t)height;
    info->bit_depth = depth;
    info->color_model = color;
    info->interlaced = interlace != PNG_INTERLACE_NONE;
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        png_destroy_read_struct(&png, &header, NULL);
        return MFIMAGE_TOO_LARGE;
    }
    if (depth == 16 && color == PNG_COLOR_TYPE_GRAY) {
        snprintf(info->message, 200,
                 "16-bit grayscale PNG is not supported (PIL reads it as integers and clips them to 255); "
                 "convert it to 8 bits");
        png_destroy_read_struct(&png, &header, NULL);
        return MFIMAGE_UNSUPPORTED;
    }
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, header);
    info->channels = png_get_channels(png, header);
    size_t row = (size_t)width * (size_t)info->channels;
    if (png_get_rowbytes(png, header) != row || info->channels < 1 || info->channels > 4) {
        snprintf(info->message, 200, "unexpected row layout after expansion to 8 bits");
        png_destroy_read_struct(&png, &header, NULL);
        return MFIMAGE_UNSUPPORTED;
    }
    if (pixels == NULL) {
        png_destroy_read_struct(&png, &header, NULL);
        return MFIMAGE_OK;
    }
    if (capacity < row * (size_t)height) {
        png_destroy_read_struct(&png, &header, NULL);
        return MFIMAGE_BUFFER_TOO_SMALL;
    }
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (rows == NULL) {
        snprintf(info->message, 200, "out of memory");
        png_destroy_read_struct(&png, &header, NULL);
        return MFIMAGE_CORRUPT;
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * row;
    png_read_image(png, rows);
    // The image is complete; what follows it (text chunks, IEND) is not needed.
    free(rows);
    png_destroy_read_struct(&png, &header, NULL);
    return MFIMAGE_OK;
}
