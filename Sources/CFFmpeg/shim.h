#ifndef VIDLM_CFFMPEG_SHIM_H
#define VIDLM_CFFMPEG_SHIM_H

#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/log.h>
#include <libavutil/version.h>
#include <stdint.h>

// Swift cannot import function-like or FFERRTAG macros; these inline functions expose them.
static inline int vidlm_averror(int posix_errno) { return AVERROR(posix_errno); }
static inline int vidlm_averror_eof(void) { return AVERROR_EOF; }
static inline int vidlm_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int vidlm_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int vidlm_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int vidlm_averror_stream_not_found(void) { return AVERROR_STREAM_NOT_FOUND; }
static inline int vidlm_averror_enomem(void) { return AVERROR(ENOMEM); }
static inline int vidlm_averror_enoent(void) { return AVERROR(ENOENT); }
static inline int vidlm_averror_eacces(void) { return AVERROR(EACCES); }
static inline int vidlm_averror_patchwelcome(void) { return AVERROR_PATCHWELCOME; }
static inline int vidlm_averror_exit(void) { return AVERROR_EXIT; }
static inline int64_t vidlm_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline int vidlm_time_base(void) { return AV_TIME_BASE; }
static inline int vidlm_frame_flag_corrupt(void) { return AV_FRAME_FLAG_CORRUPT; }
static inline int vidlm_pkt_flag_key(void) { return AV_PKT_FLAG_KEY; }
static inline int vidlm_pkt_flag_corrupt(void) { return AV_PKT_FLAG_CORRUPT; }
static inline int vidlm_pkt_flag_discard(void) { return AV_PKT_FLAG_DISCARD; }
static inline int vidlm_disposition_attached_pic(void) { return AV_DISPOSITION_ATTACHED_PIC; }
static inline int vidlm_index_is_keyframe(const AVIndexEntry *e) { return (e->flags & AVINDEX_KEYFRAME) != 0; }
static inline int vidlm_index_is_discard(const AVIndexEntry *e) { return (e->flags & AVINDEX_DISCARD_FRAME) != 0; }
static inline int vidlm_index_size(const AVIndexEntry *e) { return e->size; }
// Quiets libav's own logging: vidlm reports problems in its own words.
static inline void vidlm_set_log_level(int level) { av_log_set_level(level); }

// Rotation of the stream's display matrix in degrees (counter-clockwise, as libavutil reports
// it), or NaN when the stream has none. The side-data API moved between FFmpeg 5 and 6.1.
static inline double vidlm_stream_display_rotation(const AVStream *st) {
    const int32_t *matrix = NULL;
#if LIBAVFORMAT_VERSION_MAJOR > 60 || (LIBAVFORMAT_VERSION_MAJOR == 60 && LIBAVFORMAT_VERSION_MINOR >= 15)
    const AVPacketSideData *sd = av_packet_side_data_get(st->codecpar->coded_side_data,
                                                          st->codecpar->nb_coded_side_data,
                                                          AV_PKT_DATA_DISPLAYMATRIX);
    if (sd && sd->size >= 9 * sizeof(int32_t)) matrix = (const int32_t *)sd->data;
#else
    size_t size = 0;
    const uint8_t *data = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (data && size >= 9 * sizeof(int32_t)) matrix = (const int32_t *)data;
#endif
    if (!matrix) return 0.0 / 0.0;
    return av_display_rotation_get(matrix);
}

// Frame flags and key-frame test differ across FFmpeg versions.
static inline int vidlm_frame_is_corrupt(const AVFrame *f) {
    return (f->flags & AV_FRAME_FLAG_CORRUPT) != 0 || f->decode_error_flags != 0;
}

static inline const char *vidlm_error_string(int code, char *buf, size_t size) {
    av_strerror(code, buf, size);
    return buf;
}

#endif
