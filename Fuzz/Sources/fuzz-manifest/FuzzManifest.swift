import Foundation
import FuzzSupport
import VidLM

// The input is a frame-order manifest (JSON Lines). Loading must fail with a ManifestError
// (whose description is one line) or give entries that satisfy the documented rules.

private let manifest = FuzzSupport.folder("manifest").appendingPathComponent("manifest.jsonl")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzManifest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzSupport.write(UnsafeRawBufferPointer(start: data, count: size), to: manifest)
    do {
        let loaded = try FrameOrderManifest.load(manifest)
        precondition(!loaded.entries.isEmpty, "an empty manifest loaded")
        var lastLine = 0
        for e in loaded.entries {
            precondition(!e.video.isEmpty, "an entry without a video")
            precondition(!e.caption.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "an empty caption")
            precondition(e.line > lastLine, "entries out of line order")
            lastLine = e.line
        }
    } catch {
        precondition(!error.description.isEmpty)
        FuzzSupport.note(error.description)
    }
    return 0
}
