import XCTest
@testable import VidLMMedia

/// The non-reference pictures the decode-cost estimate counts as nearly free must be the ones
/// libavcodec really skips (ffprobe -skip_frame noref is the oracle, recorded in
/// exactness/expected.json), on the sample-table path and on every scanned container.
final class NonReferenceFrameTests: XCTestCase {
    func testNonReferencePicturesMatchLibavcodecOnEveryTimelinePath() async throws {
        for name in ExactnessSet.names {
            let clip = ExactnessSet.clip(name)
            let decoder = try await MediaDecoder.open(ExactnessSet.path(name), threads: 1)
            let t = try await decoder.timeline()
            let found = await decoder.nonReferenceFrames(in: [0...(t.count - 1)])
            guard clip.codecName == "h264" else {
                XCTAssertNil(found, "\(name): only H.264 says which pictures are references")
                continue
            }
            let expected = clip.timelinePath == "sample_table" ? clip.nonReferenceDecodeOrder : clip.nonReferenceFrames
            XCTAssertEqual(found, expected.map(Set.init), name)
            // Only the asked-for stretch is looked at.
            let part = await decoder.nonReferenceFrames(in: [10...29])
            XCTAssertEqual(part, expected.map { Set($0.filter { (10...29).contains($0) }) }, name)
            if clip.timelinePath == "sample_table" {
                // The same file scanned counts frames in presentation order.
                _ = try await decoder.timeline(forceScan: true)
                let scanned = await decoder.nonReferenceFrames(in: [0...(t.count - 1)])
                XCTAssertEqual(scanned, clip.nonReferenceFrames.map(Set.init), "\(name) scanned")
            }
        }
    }

    /// Length-prefixed (MP4, Matroska) and start-code (MPEG-TS) packets; the first slice decides,
    /// whatever parameter sets or SEI come before it.
    func testFirstSliceDecides() {
        let sei: [UInt8] = [0x06, 0x05, 0x01, 0xFF]
        let nonRefSlice: [UInt8] = [0x01, 0x9A, 0x00]   // nal_ref_idc 0, type 1
        let refSlice: [UInt8] = [0x41, 0x9A, 0x00]      // nal_ref_idc 2, type 1
        let idr: [UInt8] = [0x65, 0x88, 0x80]           // nal_ref_idc 3, type 5
        func prefixed(_ nals: [[UInt8]], size: Int) -> [UInt8] {
            nals.flatMap { nal in (0..<size).reversed().map { UInt8(truncatingIfNeeded: nal.count >> (8 * $0)) } + nal }
        }
        func annexB(_ nals: [[UInt8]]) -> [UInt8] { nals.flatMap { [0, 0, 0, 1] + $0 } }
        for size in [1, 2, 4] {
            let flags = H264ReferenceFlags(framing: .lengthPrefixed(size))
            XCTAssertEqual(prefixed([sei, nonRefSlice], size: size).withUnsafeBytes { flags.isNonReference($0) }, true)
            XCTAssertEqual(prefixed([sei, refSlice], size: size).withUnsafeBytes { flags.isNonReference($0) }, false)
            XCTAssertEqual(prefixed([idr], size: size).withUnsafeBytes { flags.isNonReference($0) }, false)
            XCTAssertNil(prefixed([sei], size: size).withUnsafeBytes { flags.isNonReference($0) })
            // A slice beyond the bytes read, or a zero length: unknown, never a guess.
            XCTAssertNil(Array(prefixed([sei, nonRefSlice], size: size).prefix(size + sei.count + size)).withUnsafeBytes { flags.isNonReference($0) })
            XCTAssertNil(([UInt8](repeating: 0, count: size) + [0x01]).withUnsafeBytes { flags.isNonReference($0) })
        }
        let start = H264ReferenceFlags(framing: .annexB)
        XCTAssertEqual(annexB([[0x09, 0xF0], sei, nonRefSlice]).withUnsafeBytes { start.isNonReference($0) }, true)
        XCTAssertEqual(annexB([refSlice]).withUnsafeBytes { start.isNonReference($0) }, false)
        XCTAssertNil(annexB([sei]).withUnsafeBytes { start.isNonReference($0) })
        XCTAssertNil([UInt8]().withUnsafeBytes { start.isNonReference($0) })
        // avcC extradata (version 1) states the length size in its fifth byte; else start codes.
        let avcC: [UInt8] = [1, 0x64, 0, 0x1F, 0xFD, 0xE1]
        XCTAssertEqual(avcC.withUnsafeBufferPointer { H264ReferenceFlags(extradata: $0) }.framing, .lengthPrefixed(2))
        XCTAssertEqual([UInt8]().withUnsafeBufferPointer { H264ReferenceFlags(extradata: $0) }.framing, .annexB)
        XCTAssertEqual([0, 0, 0, 1, 0x67].withUnsafeBufferPointer { H264ReferenceFlags(extradata: $0) }.framing, .annexB)
    }
}
