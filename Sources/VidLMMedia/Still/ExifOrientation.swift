import Foundation

/// The EXIF orientation of a still picture (a phone photo taken upright but stored sideways says
/// 6), applied as transformers' image loaders apply it: Pillow's `ImageOps.exif_transpose`, and
/// torchcodec's image decoder, which agree. Read from JPEG APP1, PNG `eXIf`, WebP `EXIF` chunks
/// and a TIFF file's own first directory. Anything malformed reads as 1 (leave the picture as it
/// is), as Pillow does.
public enum ExifOrientation {
    /// The largest EXIF block read (JPEG's APP1 cannot exceed 64 KiB; a PNG or WebP one could).
    static let maximumBlock = 1 << 20
    /// Markers, fill bytes or chunks walked at most before giving up (a crafted file of fill bytes
    /// or tiny chunks must not keep a request busy; a real PNG has a few thousand IDAT chunks).
    static let maximumSteps = 1 << 20

    /// 1 (as stored) to 8; 1 when the file has no usable orientation tag.
    public static func read(path: String, head: [UInt8]) -> Int {
        guard let tiff = exifBlock(path: path, head: head) else { return 1 }
        return orientation(inTIFF: tiff)
    }

    /// Whether orientation `o` turns the picture by a quarter (its sides swap).
    public static func swapsSides(_ o: Int) -> Bool { (5...8).contains(o) }

    /// The TIFF structure holding the EXIF tags, found from the file's leading bytes `head`.
    static func exifBlock(path: String, head: [UInt8]) -> [UInt8]? {
        if head.starts(with: [0xFF, 0xD8]) { return jpegExif(path: path) }
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return pngExif(path: path) }
        if head.count >= 12, head.starts(with: Array("RIFF".utf8)), Array(head[8..<12]) == Array("WEBP".utf8) {
            return webpExif(path: path)
        }
        if head.starts(with: [0x49, 0x49, 0x2A, 0x00]) || head.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) {
            return tiffDirectory(path: path, header: Array(head.prefix(8)))
        }
        return nil
    }

    /// Pillow keeps the first APP1 segment that starts with "Exif\0\0"; markers are read up to
    /// the first scan.
    private static func jpegExif(path: String) -> [UInt8]? {
        guard let file = FileWindow(path: path) else { return nil }
        var offset: UInt64 = 2
        var steps = 0
        while steps < maximumSteps, let marker = file.read(at: offset, count: 4), marker.count == 4 {
            steps += 1
            guard marker[0] == 0xFF else { return nil }
            let code = marker[1]
            if code == 0xFF { offset += 1; continue }                      // fill byte
            if code == 0xD8 || code == 0x01 || (0xD0...0xD7).contains(code) { offset += 2; continue }
            if code == 0xDA || code == 0xD9 { return nil }                 // scan data or the end
            let length = Int(marker[2]) << 8 | Int(marker[3])
            guard length >= 2 else { return nil }
            if code == 0xE1, let body = file.read(at: offset + 4, count: length - 2),
               body.count == length - 2, body.starts(with: exifPrefix) {
                return Array(body.dropFirst(exifPrefix.count))
            }
            offset += 2 + UInt64(length)
        }
        return nil
    }

    /// A TIFF file is its own EXIF structure. Its first directory may sit after the picture data,
    /// so only that directory is read, behind a header that points at it.
    private static func tiffDirectory(path: String, header: [UInt8]) -> [UInt8]? {
        guard header.count == 8, let file = FileWindow(path: path) else { return nil }
        let little = header[0] == 0x49
        let b = header[4..<8].map(UInt64.init)
        let offset = little ? b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24 : b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]
        guard let countBytes = file.read(at: offset, count: 2), countBytes.count == 2 else { return nil }
        let entries = little ? Int(countBytes[0]) | Int(countBytes[1]) << 8 : Int(countBytes[0]) << 8 | Int(countBytes[1])
        guard let body = file.read(at: offset + 2, count: 12 * entries), body.count == 12 * entries else { return nil }
        let relocated: [UInt8] = little ? [8, 0, 0, 0] : [0, 0, 0, 8]
        return Array(header[0..<4]) + relocated + countBytes + body
    }

    /// PNG chunks, wherever the `eXIf` chunk is (before or after the picture data): big-endian
    /// length, then the type; a CRC after the data.
    private static func pngExif(path: String) -> [UInt8]? {
        exifChunk(path: path, first: 8, named: "eXIf", endsAt: "IEND") { header in
            let length = UInt64(header[0]) << 24 | UInt64(header[1]) << 16 | UInt64(header[2]) << 8 | UInt64(header[3])
            return (String(decoding: header[4..<8], as: UTF8.self), length, 12 + length)
        }
    }

    /// RIFF chunks of a WebP file: the type, then a little-endian length; data padded to even.
    private static func webpExif(path: String) -> [UInt8]? {
        exifChunk(path: path, first: 12, named: "EXIF", endsAt: nil) { header in
            let length = UInt64(header[4]) | UInt64(header[5]) << 8 | UInt64(header[6]) << 16 | UInt64(header[7]) << 24
            return (String(decoding: header[0..<4], as: UTF8.self), length, 8 + length + (length & 1))
        }
    }

    /// Walks 8-byte chunk headers from `first`; `parse` gives a header's type, data length and the
    /// distance to the next header. The named chunk's data (after an optional "Exif\0\0") is the
    /// TIFF structure.
    private static func exifChunk(path: String, first: UInt64, named: String, endsAt end: String?,
                                  parse: ([UInt8]) -> (type: String, length: UInt64, next: UInt64)) -> [UInt8]? {
        guard let file = FileWindow(path: path) else { return nil }
        var offset = first
        var steps = 0
        while steps < maximumSteps, let header = file.read(at: offset, count: 8), header.count == 8 {
            steps += 1
            let chunk = parse(header)
            if chunk.type == end { return nil }
            if chunk.type == named {
                guard chunk.length <= UInt64(maximumBlock), let body = file.read(at: offset + 8, count: Int(chunk.length)),
                      body.count == Int(chunk.length) else { return nil }
                return body.starts(with: exifPrefix) ? Array(body.dropFirst(exifPrefix.count)) : body
            }
            offset += chunk.next
        }
        return nil
    }

    private static let exifPrefix: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0x00, 0x00]   // "Exif\0\0"

    /// Tag 0x0112 of the first image directory, as a SHORT or LONG; 1 when absent or out of range.
    static func orientation(inTIFF t: [UInt8]) -> Int {
        guard t.count >= 8 else { return 1 }
        let little: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return 1
        }
        func u16(_ o: Int) -> Int? {
            guard o >= 0, o + 2 <= t.count else { return nil }
            return little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])
        }
        func u32(_ o: Int) -> Int? {
            guard let a = u16(o), let b = u16(o + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let directory = u32(4), let entries = u16(directory) else { return 1 }
        for e in 0..<entries {
            let entry = directory + 2 + 12 * e
            guard let tag = u16(entry), let type = u16(entry + 2), let count = u32(entry + 4) else { return 1 }
            guard tag == 0x0112 else { continue }
            let value: Int?
            switch type {
            case 3 where count >= 1: value = u16(entry + 8)     // SHORT
            case 4 where count >= 1: value = u32(entry + 8)     // LONG
            default: value = nil
            }
            guard let value, (1...8).contains(value) else { return 1 }
            return value
        }
        return 1
    }

    /// `image` as orientation `o` says it is to be shown (Pillow's transpose for each value).
    public static func apply(_ o: Int, to image: RGBImage) -> RGBImage {
        guard (2...8).contains(o) else { return image }
        let w = image.width, h = image.height
        let swap = swapsSides(o)
        let outW = swap ? h : w, outH = swap ? w : h
        // Source pixel of output pixel (x, y).
        let source: (Int, Int) -> (Int, Int)
        switch o {
        case 2: source = { x, y in (w - 1 - x, y) }              // mirror left-right
        case 3: source = { x, y in (w - 1 - x, h - 1 - y) }      // half turn
        case 4: source = { x, y in (x, h - 1 - y) }              // mirror top-bottom
        case 5: source = { x, y in (y, x) }                      // transpose
        case 6: source = { x, y in (y, h - 1 - x) }              // quarter turn clockwise
        case 7: source = { x, y in (w - 1 - y, h - 1 - x) }      // transverse
        default: source = { x, y in (w - 1 - y, x) }             // 8: quarter turn anticlockwise
        }
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<outH {
                    for x in 0..<outW {
                        let (sx, sy) = source(x, y)
                        let s = (sy * w + sx) * 3, d = (y * outW + x) * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: outW, height: outH, pixels: out)
    }
}

/// Bounded reads at offsets of a file (the EXIF block is found without reading picture data),
/// through a 64 KiB window so that walking many small segments costs no system call each.
final class FileWindow {
    private let handle: FileHandle
    private var window: [UInt8] = []
    private var windowStart: UInt64 = 0
    private static let windowSize = 1 << 16

    init?(path: String) {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        handle = h
    }

    deinit { try? handle.close() }

    /// Up to `count` bytes at `offset` (fewer at the end of the file); nil on a read error.
    func read(at offset: UInt64, count: Int) -> [UInt8]? {
        guard count >= 0 else { return nil }
        let end = offset + UInt64(count)
        if offset < windowStart || end > windowStart + UInt64(window.count) {
            do {
                try handle.seek(toOffset: offset)
                window = [UInt8](try handle.read(upToCount: max(count, Self.windowSize)) ?? Data())
                windowStart = offset
            } catch {
                return nil
            }
        }
        let lo = Int(offset - windowStart)
        let hi = min(window.count, lo + count)
        return lo < hi ? Array(window[lo..<hi]) : []
    }
}
