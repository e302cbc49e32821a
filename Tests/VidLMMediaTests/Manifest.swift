import Foundation

/// The facts tools/media/make_test_clips.py recorded with ffprobe for each fixture (the oracle).
struct MediaManifest: Decodable {
    let files: [String: Entry]

    struct Entry: Decodable {
        let kind: String
        let formatName: String?
        let codecName: String?
        let codedWidth: Int?
        let codedHeight: Int?
        let displayWidth: Int?
        let displayHeight: Int?
        let rotation: Int?
        let timeBase: [Int]?
        let startPts: Int64?
        let frameCount: Int?
        let nbFrames: Int?
        let avgFrameRate: [Int]?
        let block: Int?
        let codeValue: Int?
        let pts: [Int64]?
        let keyframePts: [Int64]?
        let ptsRule: PtsRule?
        let damaged: Damaged?
        let leadingFrames: [Leading]?
    }

    struct PtsRule: Decodable { let first: Int64; let step: Int64; let count: Int }
    struct Damaged: Decodable { let frameIndex: Int; let affectedFrameRange: [Int] }
    struct Leading: Decodable { let keyframePts: Int64; let leadingPts: [Int64] }

    static let shared: MediaManifest = {
        let url = Fixtures.root.appendingPathComponent("media/manifest.json")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(MediaManifest.self, from: Data(contentsOf: url))
        } catch {
            preconditionFailure("Tests/Fixtures/media/manifest.json is unreadable: \(error)")
        }
    }()

    static func entry(_ name: String) -> Entry {
        guard let e = shared.files[name] else { preconditionFailure("no manifest entry for \(name)") }
        return e
    }

    /// Every frame's pts in presentation order.
    static func pts(_ name: String) -> [Int64] {
        let e = entry(name)
        if let pts = e.pts { return pts }
        if let r = e.ptsRule { return (0..<r.count).map { r.first + Int64($0) * r.step } }
        return []
    }

    static let clips = ["cfr_bframes.mp4", "open_gop.mp4", "vfr.mp4", "start_offset.ts", "start_offset.mp4",
                        "no_duration.mkv", "rotated90.mp4", "rotated180.mp4", "rotated270.mp4", "animated.gif"]
    static let stills = ["still.png", "still.jpg", "still.webp", "still.bmp"]
}
