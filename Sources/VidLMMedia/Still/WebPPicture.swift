import CStillImage

/// WebP stills decoded by libwebp with its defaults, as Pillow and torchcodec decode them. libav's
/// WebP decoder hands 4:2:0 planes to swscale, whose chroma upsampling differs from libwebp's
/// (up to ±100 per channel at colour edges of lossy pictures).
enum WebPPicture {
    /// libwebp is opened at run time; without it WebP goes through libav.
    static var available: Bool { vidlm_webp_available() != 0 }

    static func isWebP(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 12 && bytes.starts(with: Array("RIFF".utf8)) && Array(bytes[8..<12]) == Array("WEBP".utf8)
    }

    /// The picture, or nil when libwebp refuses the data (an animated WebP, say).
    static func decode(_ bytes: [UInt8]) throws(MediaError) -> RGBImage? {
        var w: Int32 = 0, h: Int32 = 0
        let known = bytes.withUnsafeBufferPointer { vidlm_webp_size($0.baseAddress, $0.count, &w, &h) }
        guard known == 0, w > 0, h > 0 else { return nil }
        let width = Int(w), height = Int(h)
        guard width <= MediaDecoder.maximumSide, height <= MediaDecoder.maximumSide else {
            throw .frameTooLarge(width: width, height: height, limit: MediaDecoder.maximumSide)
        }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        let status = bytes.withUnsafeBufferPointer { data in
            out.withUnsafeMutableBufferPointer { dst in
                vidlm_webp_decode_rgb(data.baseAddress, data.count, dst.baseAddress, dst.count, Int32(width * 3))
            }
        }
        return status == 0 ? RGBImage(width: width, height: height, pixels: out) : nil
    }
}
