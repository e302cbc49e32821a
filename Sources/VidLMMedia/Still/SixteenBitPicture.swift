import CFFmpeg

/// 16-bit stills (PNG with 16 bits per sample) to 8-bit RGB as torchcodec's image decoder makes
/// them, which transformers 5's torchvision image processors load: each sample rounded,
/// (v·255 + 32767) / 65535, gray replicated, alpha dropped. swscale's conversion differs by up
/// to 2 (Pillow truncates to the top byte: the two Python loaders disagree by 1 here; vidlm follows
/// the default processors).
enum SixteenBitPicture {
    /// Samples per pixel, the offset of the first colour sample, and byte order, per layout.
    private static func layout(_ format: AVPixelFormat) -> (samples: Int, colours: Int, bigEndian: Bool)? {
        switch format {
        case AV_PIX_FMT_RGB48BE: return (3, 3, true)
        case AV_PIX_FMT_RGB48LE: return (3, 3, false)
        case AV_PIX_FMT_RGBA64BE: return (4, 3, true)
        case AV_PIX_FMT_RGBA64LE: return (4, 3, false)
        case AV_PIX_FMT_GRAY16BE: return (1, 1, true)
        case AV_PIX_FMT_GRAY16LE: return (1, 1, false)
        case AV_PIX_FMT_YA16BE: return (2, 1, true)
        case AV_PIX_FMT_YA16LE: return (2, 1, false)
        default: return nil
        }
    }

    /// The picture in `frame`, or nil when it is not one of the packed 16-bit layouts above.
    static func convert(_ frame: Frame) -> RGBImage? {
        guard let l = layout(frame.pixelFormat), frame.width > 0, frame.height > 0,
              let data = frame.pointer.pointee.data.0 else { return nil }
        let w = frame.width, h = frame.height, stride = Int(frame.pointer.pointee.linesize.0)
        guard stride >= w * l.samples * 2 else { return nil }
        var out = [UInt8](repeating: 0, count: w * h * 3)
        out.withUnsafeMutableBufferPointer { dst in
            for y in 0..<h {
                let row = data + y * stride
                for x in 0..<w {
                    for c in 0..<3 {
                        let s = (row + (x * l.samples + (l.colours == 3 ? c : 0)) * 2)
                        let v = l.bigEndian ? Int(s[0]) << 8 | Int(s[1]) : Int(s[1]) << 8 | Int(s[0])
                        dst[(y * w + x) * 3 + c] = UInt8((v * 255 + 32767) / 65535)
                    }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }
}
