import CStillImage

/// JPEG stills decoded by libjpeg-turbo with its defaults, as Pillow and torchcodec decode them
/// (transformers loads images with one or the other), so a photo gives the model the same pixels.
/// libav's MJPEG decoder uses a different inverse DCT and upsamples chroma with swscale: up to
/// ±100 per channel at colour edges of 4:2:0 pictures.
enum JPEGPicture {
    /// JPEG files start with SOI and a marker.
    static func isJPEG(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF
    }

    /// Decodes `bytes` to RGB. CMYK pictures convert as Pillow converts them (Adobe's inverted
    /// CMYK, then R = (255 − K) − C·(255 − K)/255 with Pillow's rounding).
    static func decode(_ bytes: [UInt8], path: String) throws(MediaError) -> RGBImage {
        var header = vidlm_jpeg_header()
        var message = [CChar](repeating: 0, count: 256)
        let headerStatus = bytes.withUnsafeBufferPointer { data in
            vidlm_jpeg_read_header(data.baseAddress, data.count, &header, &message, message.count)
        }
        guard headerStatus == 0 else { throw .unreadable(path: path, reason: text(message)) }
        let width = Int(header.width), height = Int(header.height)
        guard width > 0, height > 0 else { throw .unreadable(path: path, reason: "the JPEG header gives no picture size") }
        guard width <= MediaDecoder.maximumSide, height <= MediaDecoder.maximumSide else {
            throw .frameTooLarge(width: width, height: height, limit: MediaDecoder.maximumSide)
        }
        let cmyk = header.components == 4
        var out = [UInt8](repeating: 0, count: width * height * (cmyk ? 4 : 3))
        var warnings: Int32 = 0
        let status = bytes.withUnsafeBufferPointer { data in
            out.withUnsafeMutableBufferPointer { dst in
                vidlm_jpeg_decode(data.baseAddress, data.count, dst.baseAddress, dst.count, &warnings, &message, message.count)
            }
        }
        guard status == 0 else { throw .decodeFailed("\(path): \(text(message))") }
        if warnings > 0 {
            Diagnostics.warn("\(path): the JPEG data is damaged in places; decoded as libjpeg recovers it.")
        }
        return RGBImage(width: width, height: height, pixels: cmyk ? rgb(fromCMYK: out) : out)
    }

    /// Pillow's `CMYK;I` unpacking and its `cmyk2rgb`.
    static func rgb(fromCMYK raw: [UInt8]) -> [UInt8] {
        let count = raw.count / 4
        var rgb = [UInt8](repeating: 0, count: count * 3)
        for i in 0..<count {
            let k = 255 - Int(raw[4 * i + 3])
            let notK = 255 - k
            for c in 0..<3 {
                let ink = 255 - Int(raw[4 * i + c])
                let t = ink * notK + 128
                let scaled = ((t >> 8) + t) >> 8
                rgb[3 * i + c] = UInt8(clamping: notK - scaled)
            }
        }
        return rgb
    }

    private static func text(_ message: [CChar]) -> String {
        let s = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return s.isEmpty ? "not a valid JPEG" : s
    }
}
