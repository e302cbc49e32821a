import Foundation
import VidLMMedia
import VidLMTensor

/// SmolVLM's pixel pipeline (transformers' `SmolVLMImageProcessor` / `SmolVLMVideoProcessor`):
/// resize so the longest edge is `size.longest_edge`; for an image with splitting, resize up to
/// whole tiles, cut it into `rows × cols` tiles of `max_image_size` (row-major) and add the whole
/// picture squashed to one tile as the global image; otherwise (no splitting, video frames)
/// squash to one tile. Then rescale and normalise. Resizes reproduce torchvision's uint8
/// antialiased resize byte for byte (`PillowResizer.torchvision`), which transformers uses here.
public struct SmolVLMImageProcessor: Sendable {
    public let settings: SmolVLMProcessorConfig.Pixels
    /// Normalised value of each byte per channel: (x − mean/rescale) / (std/rescale), in f32 as
    /// transformers fuses rescale into normalise.
    private let table: [Float]

    /// transformers' cap on either side after the first resize.
    static let maxSide = 4096

    public init(_ settings: SmolVLMProcessorConfig.Pixels) {
        self.settings = settings
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for v in 0..<256 {
                var x = Float(v)
                if let mean = settings.mean, let std = settings.std {
                    let inverse = Float(1.0 / (settings.rescaleFactor ?? 1))
                    x = (x - Float(mean[c]) * inverse) / (Float(std[c]) * inverse)
                } else if let r = settings.rescaleFactor {
                    x = x * Float(r)
                }
                table[c * 256 + v] = x
            }
        }
        self.table = table
    }

    /// Tiles of one image: pixel values [N, 3, tile, tile] (tiles row-major, then the global
    /// image) and the grid (rows = cols = 0 when the image is one tile).
    public func image(_ image: RGBImage, split: Bool) throws -> (pixels: Tensor, rows: Int, cols: Int) {
        let tile = settings.tileSize
        var resized = try firstResize(image)
        guard split else { return (try tensor([try squash(resized)]), 0, 0) }
        let (h, w) = Self.wholeTiles(height: resized.height, width: resized.width, tile: tile)
        resized = try resize(resized, width: w, height: h)
        guard h > tile || w > tile else { return (try tensor([resized]), 0, 0) }
        let rows = (h + tile - 1) / tile, cols = (w + tile - 1) / tile
        var tiles: [RGBImage] = []
        for r in 0..<rows {
            for c in 0..<cols { tiles.append(crop(resized, x: c * tile, y: r * tile, size: tile)) }
        }
        tiles.append(try squash(resized))
        return (try tensor(tiles), rows, cols)
    }

    /// One video frame as one tile: [1, 3, tile, tile].
    public func frame(_ image: RGBImage) throws -> Tensor {
        try tensor([try squash(try firstResize(image))])
    }

    // MARK: Sizes (transformers' rules, integer for integer)

    /// `longest_edge` resize: the long side becomes `maxLength`, the other keeps the aspect ratio
    /// (truncated, then made even), both at least 1 and at most 4096.
    static func longestEdgeSize(height: Int, width: Int, maxLength: Int) -> (height: Int, width: Int) {
        var h = height, w = width
        let aspect = Double(width) / Double(height)
        if w >= h {
            w = maxLength
            h = Int(Double(w) / aspect)
            if h % 2 != 0 { h += 1 }
        } else {
            h = maxLength
            w = Int(Double(h) * aspect)
            if w % 2 != 0 { w += 1 }
        }
        h = max(h, 1)
        w = max(w, 1)
        // Then scaled below the absolute bound.
        let aspect2 = Double(w) / Double(h)
        if w >= h && w > maxSide {
            w = maxSide
            h = Int(Double(w) / aspect2)
        } else if h > w && h > maxSide {
            h = maxSide
            w = Int(Double(h) * aspect2)
        }
        return (max(h, 1), max(w, 1))
    }

    /// `resize_for_vision_encoder`: both sides up to whole tiles, keeping the aspect ratio.
    static func wholeTiles(height: Int, width: Int, tile: Int) -> (height: Int, width: Int) {
        var h = height, w = width
        let aspect = Double(width) / Double(height)
        func ceilTiles(_ n: Int) -> Int { Int((Double(n) / Double(tile)).rounded(.up)) * tile }
        if w >= h {
            w = ceilTiles(w)
            h = Int(Double(w) / aspect)
            h = ceilTiles(h)
        } else {
            h = ceilTiles(h)
            w = Int(Double(h) * aspect)
            w = ceilTiles(w)
        }
        return (h, w)
    }

    // MARK: Pixels

    private func firstResize(_ image: RGBImage) throws -> RGBImage {
        guard settings.doResize else { return image }
        let (h, w) = Self.longestEdgeSize(height: image.height, width: image.width, maxLength: settings.longestEdge)
        return try resize(image, width: w, height: h)
    }

    private func squash(_ image: RGBImage) throws -> RGBImage {
        try resize(image, width: settings.tileSize, height: settings.tileSize)
    }

    private func resize(_ image: RGBImage, width: Int, height: Int) throws -> RGBImage {
        if image.width == width && image.height == height { return image }
        // transformers' SmolVLM processors resize uint8 tensors with torchvision.
        return try image.resizedLikeTorchvision(width: width, height: height, filter: settings.resample)
    }

    private func crop(_ image: RGBImage, x: Int, y: Int, size: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        image.pixels.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for row in 0..<size {
                    let from = ((y + row) * image.width + x) * 3
                    (dst.baseAddress! + row * size * 3).update(from: src.baseAddress! + from, count: size * 3)
                }
            }
        }
        return RGBImage(width: size, height: size, pixels: pixels)
    }

    /// Square tiles → [N, 3, side, side] through the normalisation table.
    private func tensor(_ tiles: [RGBImage]) throws -> Tensor {
        let side = tiles[0].width, plane = side * side
        return Tensor.make(shape: [tiles.count, 3, side, side], uninitialized: true) { out in
            table.withUnsafeBufferPointer { lut in
                // Rows across the compute workers: this runs on the thread that then runs the tower.
                for (t, tile) in tiles.enumerated() {
                    tile.pixels.withUnsafeBufferPointer { px in
                        ParallelLoop.forEachChunk(side, minimumPerChunk: 32) { rows in
                            for c in 0..<3 {
                                let dst = out.baseAddress! + (t * 3 + c) * plane
                                let l = lut.baseAddress! + c * 256
                                for i in rows.lowerBound * side..<rows.upperBound * side { dst[i] = l[Int(px[i * 3 + c])] }
                            }
                        }
                    }
                }
            }
        }
    }
}
