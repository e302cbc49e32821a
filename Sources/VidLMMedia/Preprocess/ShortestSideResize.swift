/// CLIP-style "shortest edge" resizing (`size = {"shortest_edge": s}`), as transformers'
/// `get_resize_output_image_size(..., default_to_square=False)` sizes it.
extension RGBImage {
    /// The (width, height) transformers resizes a `width` x `height` image to for `shortestEdge`.
    ///
    /// transformers computes `int(s * long / short)` in Python floats: true division, then
    /// truncation (not rounding), and `short` is the width when `width <= height` (a square image
    /// counts as portrait). Doing the same in `Double` gives the same integer.
    public static func shortestSideOutputSize(width: Int, height: Int, shortestEdge: Int) throws
        -> (width: Int, height: Int)
    {
        guard width > 0 else { throw PreprocessError.invalidSize("image width", width) }
        guard height > 0 else { throw PreprocessError.invalidSize("image height", height) }
        guard shortestEdge > 0 else { throw PreprocessError.invalidSize("shortest_edge", shortestEdge) }
        let (short, long) = width <= height ? (width, height) : (height, width)
        let newLong = Int(Double(shortestEdge * long) / Double(short))
        // A 1-pixel-thin image can make the long side round to 0 in principle; Pillow would refuse it.
        guard newLong > 0 else { throw PreprocessError.invalidSize("resized long edge", newLong) }
        return width <= height ? (shortestEdge, newLong) : (newLong, shortestEdge)
    }

    /// Resizes so the shorter side is `shortestEdge`, keeping the aspect ratio the way
    /// CLIPImageProcessor does (see `shortestSideOutputSize`), with Pillow-exact resampling.
    public func resizedShortestSide(to shortestEdge: Int, filter: ResampleFilter = .bicubic,
                                    passOrder: ResamplePassOrder = .pillow13) throws -> RGBImage {
        let size = try Self.shortestSideOutputSize(width: width, height: height, shortestEdge: shortestEdge)
        return try resized(width: size.width, height: size.height, filter: filter, passOrder: passOrder)
    }
}
