import CFFmpeg

/// Owns one `SwsContext` that converts decoded frames to packed RGB24; freed in `deinit`.
/// The context is rebuilt only when the source geometry/format or the output size changes.
final class ScaleContext {
    private var context: OpaquePointer? = nil
    private var key: [Int32] = []

    init() {}

    deinit { sws_freeContext(context) }

    /// Converts `frame` to an RGB image of `width`×`height`.
    func convert(_ frame: Frame, width: Int, height: Int) throws(MediaError) -> RGBImage {
        let src = frame.pointer
        let format = src.pointee.format
        let colorspace = Int32(src.pointee.colorspace.rawValue)
        let fullRange = Int32(src.pointee.color_range == AVCOL_RANGE_JPEG ? 1 : 0)
        let newKey = [src.pointee.width, src.pointee.height, format, Int32(width), Int32(height),
                      colorspace, fullRange]
        if context == nil || newKey != key {
            // ffmpeg's own default (what its CLI, PyAV and decord produce, byte for byte): callers
            // convert at the source size, so the flag only picks the chroma upsampling, and
            // accurate rounding / full chroma interpolation cost 3× the time for a different
            // result than the Python stacks the models were trained with. Resizing is
            // Pillow-exact elsewhere.
            let flags = SWS_BICUBIC
            context = sws_getCachedContext(
                context, src.pointee.width, src.pointee.height, AVPixelFormat(rawValue: format),
                Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(flags), nil, nil, nil)
            guard let context else {
                let name = av_get_pix_fmt_name(AVPixelFormat(rawValue: format)).map { String(cString: $0) } ?? "\(format)"
                throw MediaError.decodeFailed("cannot convert pixel format \(name) to RGB")
            }
            // Unspecified colour matrices are treated as BT.601, as the ffmpeg CLI does.
            let matrix: Int32
            switch src.pointee.colorspace {
            case AVCOL_SPC_BT709: matrix = SWS_CS_ITU709
            case AVCOL_SPC_BT2020_NCL, AVCOL_SPC_BT2020_CL: matrix = SWS_CS_BT2020
            case AVCOL_SPC_SMPTE240M: matrix = SWS_CS_SMPTE240M
            case AVCOL_SPC_FCC: matrix = SWS_CS_FCC
            default: matrix = SWS_CS_DEFAULT
            }
            // Formats like yuvj420p carry full range in the format itself; keep swscale's choice.
            var invTable: UnsafeMutablePointer<Int32>? = nil
            var table: UnsafeMutablePointer<Int32>? = nil
            var srcRange: Int32 = 0, dstRange: Int32 = 0, brightness: Int32 = 0, contrast: Int32 = 0, saturation: Int32 = 0
            if sws_getColorspaceDetails(context, &invTable, &srcRange, &table, &dstRange,
                                        &brightness, &contrast, &saturation) >= 0 {
                sws_setColorspaceDetails(context, sws_getCoefficients(matrix), max(srcRange, fullRange),
                                         table, dstRange, brightness, contrast, saturation)
            }
            key = newKey
        }
        // swscale's SIMD paths may write a little past a row; convert into padded rows, then pack.
        let stride = (width * 3 + 63) & ~63
        var padded = [UInt8](repeating: 0, count: stride * (height + 1))
        let scaled: Int32 = padded.withUnsafeMutableBufferPointer { buf in
            var dst: [UnsafeMutablePointer<UInt8>?] = [buf.baseAddress, nil, nil, nil]
            var dstStride: [Int32] = [Int32(stride), 0, 0, 0]
            return withUnsafePointer(to: &src.pointee.data) { dataTuple in
                dataTuple.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { srcData in
                    withUnsafePointer(to: &src.pointee.linesize) { lineTuple in
                        lineTuple.withMemoryRebound(to: Int32.self, capacity: 8) { srcStride in
                            sws_scale(context, srcData, srcStride, 0, src.pointee.height, &dst, &dstStride)
                        }
                    }
                }
            }
        }
        guard scaled == Int32(height) else {
            throw MediaError.decodeFailed("pixel conversion produced \(scaled) of \(height) rows")
        }
        if stride == width * 3 {
            padded.removeLast(padded.count - width * height * 3)
            return RGBImage(width: width, height: height, pixels: padded)
        }
        var packed = [UInt8](repeating: 0, count: width * height * 3)
        packed.withUnsafeMutableBufferPointer { out in
            padded.withUnsafeBufferPointer { inp in
                for y in 0..<height {
                    (out.baseAddress! + y * width * 3).update(from: inp.baseAddress! + y * stride, count: width * 3)
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: packed)
    }
}
