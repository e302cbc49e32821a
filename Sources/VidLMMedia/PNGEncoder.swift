import CZlib
import Foundation

/// Writes RGB pictures as PNG (8-bit truecolour, no interlace, filter "none" on every row).
///
/// Rows are deflated with zlib as they are read from the picture and the compressed stream
/// leaves in IDAT chunks of at most `chunkBytes`, so the encoder holds zlib's window and one
/// chunk whatever the picture size. libavcodec's PNG encoder, used before, copied the picture
/// and zero-filled an output buffer as large as it: two more 100 MB buffers for an 8K frame
/// (docs/benchmarks/long.md).
public enum PNGEncoder {
    /// Compressed bytes per IDAT chunk.
    static let chunkBytes = 1 << 18

    /// The PNG as bytes (previews, tests).
    public static func encode(_ image: RGBImage) throws(MediaError) -> Data {
        var data = Data()
        try stream(image) { data.append($0) }
        return data
    }

    /// Writes the PNG to `url` (created or truncated) as it is encoded.
    public static func write(_ image: RGBImage, to url: URL) throws(MediaError) {
        guard FileManager.default.createFile(atPath: url.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: url.path) else {
            throw .writeFailed("cannot create \(url.lastPathComponent)")
        }
        defer { try? handle.close() }
        try stream(image) { bytes throws(MediaError) in
            do {
                try handle.write(contentsOf: bytes)
            } catch {
                throw .writeFailed("cannot write \(url.lastPathComponent): \(error.localizedDescription)")
            }
        }
    }

    /// Produces the file in pieces: signature, IHDR, the IDAT chunks, IEND.
    static func stream(_ image: RGBImage, _ emit: (Data) throws(MediaError) -> Void) throws(MediaError) {
        let width = image.width, height = image.height
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max),
              image.pixels.count == width * height * 3 else {
            throw .writeFailed("cannot encode a \(width)×\(height) picture of \(image.pixels.count) bytes as PNG")
        }
        try emit(Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        var header = Data()
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        header.append(contentsOf: [8, 2, 0, 0, 0]) // 8 bits, RGB, deflate, adaptive filters, no interlace
        try emit(chunk("IHDR", header))

        var z = z_stream()
        guard vidlm_deflate_init(&z, Z_DEFAULT_COMPRESSION) == Z_OK else {
            throw .writeFailed("PNG encoding: zlib could not start")
        }
        defer { deflateEnd(&z) }
        var out = [UInt8](repeating: 0, count: chunkBytes)
        var filter: UInt8 = 0
        try out.withUnsafeMutableBufferPointer { outBuffer throws(MediaError) in
            /// Deflates `count` bytes at `bytes` (with `flush`), sending every full chunk on.
            func deflateBytes(_ bytes: UnsafeMutablePointer<UInt8>?, _ count: Int, flush: Int32) throws(MediaError) {
                z.next_in = bytes
                z.avail_in = UInt32(count)
                while true {
                    if z.avail_out == 0 {
                        try emit(chunk("IDAT", Data(outBuffer)))
                        z.next_out = outBuffer.baseAddress
                        z.avail_out = UInt32(outBuffer.count)
                    }
                    let r = deflate(&z, flush)
                    guard r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR else {
                        throw .writeFailed("PNG encoding: zlib error \(r)")
                    }
                    if flush == Z_FINISH ? r == Z_STREAM_END : (z.avail_in == 0 && z.avail_out > 0) { break }
                }
            }
            z.next_out = outBuffer.baseAddress
            z.avail_out = UInt32(outBuffer.count)
            try image.pixels.withUnsafeBufferPointer { pixels throws(MediaError) in
                // zlib only reads its input; its API just is not const.
                let base = UnsafeMutablePointer(mutating: pixels.baseAddress!)
                let rowBytes = width * 3
                for y in 0..<height {
                    try withUnsafeMutablePointer(to: &filter) { f throws(MediaError) in
                        try deflateBytes(f, 1, flush: Z_NO_FLUSH)
                    }
                    try deflateBytes(base + y * rowBytes, rowBytes, flush: Z_NO_FLUSH)
                }
            }
            try deflateBytes(nil, 0, flush: Z_FINISH)
            let produced = outBuffer.count - Int(z.avail_out)
            if produced > 0 { try emit(chunk("IDAT", Data(outBuffer[0..<produced]))) }
        }
        try emit(chunk("IEND", Data()))
    }

    /// One chunk: length, type, data, CRC-32 of type and data.
    static func chunk(_ type: String, _ data: Data) -> Data {
        var typed = Data(type.utf8)
        typed.append(data)
        var out = Data(capacity: typed.count + 8)
        out.appendBigEndian(UInt32(data.count))
        out.append(typed)
        let crc = typed.withUnsafeBytes { raw in
            crc32(0, raw.bindMemory(to: Bytef.self).baseAddress, uInt(raw.count))
        }
        out.appendBigEndian(UInt32(crc))
        return out
    }
}

private extension Data {
    mutating func appendBigEndian(_ value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)])
    }
}
