/// Turns pictures upright according to a display matrix rotation.
public enum Orientation {
    /// `image` turned `clockwise` degrees (0, 90, 180 or 270).
    public static func rotate(_ image: RGBImage, clockwise degrees: Int) -> RGBImage {
        let w = image.width, h = image.height
        switch degrees {
        case 90, 180, 270:
            let outW = degrees == 180 ? w : h
            let outH = degrees == 180 ? h : w
            var out = [UInt8](repeating: 0, count: image.pixels.count)
            image.pixels.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for y in 0..<h {
                        for x in 0..<w {
                            let (nx, ny): (Int, Int)
                            switch degrees {
                            case 90: (nx, ny) = (h - 1 - y, x)
                            case 180: (nx, ny) = (w - 1 - x, h - 1 - y)
                            default: (nx, ny) = (y, w - 1 - x)
                            }
                            let s = (y * w + x) * 3, d = (ny * outW + nx) * 3
                            dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                        }
                    }
                }
            }
            return RGBImage(width: outW, height: outH, pixels: out)
        default:
            return image
        }
    }
}
