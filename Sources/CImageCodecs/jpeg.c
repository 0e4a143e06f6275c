#include "CImageCodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

/// libjpeg's error manager extended with the jump target and what went wrong.
typedef struct {
    struct jpeg_error_mgr base;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    int status;
    int truncated;
    int32_t max_scans;
    char *message;
} failure_handler;

static void fail_with(j_common_ptr cinfo, int status) {
    failure_handler *handler = (failure_handler *)cinfo->err;
    handler->status = status;
    longjmp(handler->jump, 1);
}

static void on_error(j_common_ptr cinfo) {
    failure_handler *handler = (failure_handler *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(handler->message, 200, "%s", text);
    fail_with(cinfo, MFIMAGE_CORRUPT);
}

/// Warnings (level −1) are counted; the end of the data arriving early marks the file truncated.
static void on_message(j_common_ptr cinfo, int level) {
    failure_handler *handler = (failure_handler *)cinfo->err;
    if (level < 0) {
        cinfo->err->num_warnings++;
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) handler->truncated = 1;
    }
}

/// Stops a progressive file with more scans than allowed (each scan costs a pass over the image).
static void on_progress(j_common_ptr cinfo) {
    failure_handler *handler = (failure_handler *)cinfo->err;
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
    if (dinfo->input_scan_number > handler->max_scans) {
        snprintf(handler->message, 200, "more than %d progressive scans", (int)handler->max_scans);
        fail_with(cinfo, MFIMAGE_UNSUPPORTED);
    }
}

int mfimage_jpeg_read(const uint8_t *data, size_t size, uint64_t max_pixels, int32_t max_scans,
                      uint8_t *pixels, size_t capacity, mfimage_info *info) {
    struct jpeg_decompress_struct cinfo;
    failure_handler handler;
    memset(info, 0, sizeof(*info));
    memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = jpeg_std_error(&handler.base);
    handler.base.error_exit = on_error;
    handler.base.emit_message = on_message;
    handler.status = MFIMAGE_OK;
    handler.truncated = 0;
    handler.max_scans = max_scans;
    handler.message = info->message;
    if (setjmp(handler.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return handler.status;
    }
    jpeg_create_decompress(&cinfo);
    handler.progress.progress_monitor = on_progress;
    cinfo.progress = &handler.progress;
    // jpeg_mem_src takes unsigned long; a size beyond it cannot be a JPEG we accept anyway.
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    info->width = (int32_t)cinfo.image_width;
    info->height = (int32_t)cinfo.image_height;
    info->bit_depth = cinfo.data_precision;
    info->color_model = (int32_t)cinfo.jpeg_color_space;
    info->interlaced = cinfo.progressive_mode ? 1 : 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        info->channels = 1;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        info->channels = 3;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo.out_color_space = JCS_CMYK;
        info->channels = 4;
        break;
    default:
        snprintf(info->message, 200, "a JPEG with %d colour components in an unknown colour space",
                 cinfo.num_components);
        jpeg_destroy_decompress(&cinfo);
        return MFIMAGE_UNSUPPORTED;
    }
    if (info->width == 0 || info->height == 0) {
        snprintf(info->message, 200, "Empty JPEG image (zero width or height)");
        jpeg_destroy_decompress(&cinfo);
        return MFIMAGE_CORRUPT;
    }
    if ((uint64_t)info->width * (uint64_t)info->height > max_pixels) {
        jpeg_destroy_decompress(&cinfo);
        return MFIMAGE_TOO_LARGE;
    }
    if (pixels == NULL) {
        jpeg_destroy_decompress(&cinfo);
        return MFIMAGE_OK;
    }
    size_t row = (size_t)info->width * (size_t)info->channels;
    if (capacity < row * (size_t)info->height) {
        jpeg_destroy_decompress(&cinfo);
        return MFIMAGE_BUFFER_TOO_SMALL;
    }
    // libjpeg's working memory (coefficients of a progressive file) is bounded by the pixel count.
    cinfo.mem->max_memory_to_use = (long)(max_pixels * 8 + (64L << 20));
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);   // reads all of a progressive file
    while (!handler.truncated && cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW target = pixels + (size_t)cinfo.output_scanline * row;
        jpeg_read_scanlines(&cinfo, &target, 1);
    }
    if (handler.truncated) {
        snprintf(info->message, 200, "the data ends in the middle of the image");
        jpeg_destroy_decompress(&cinfo);
        return MFIMAGE_TRUNCATED;
    }
    // Every row is decoded: a missing end-of-image marker is not an error (nor is it for PIL).
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return MFIMAGE_OK;
}
