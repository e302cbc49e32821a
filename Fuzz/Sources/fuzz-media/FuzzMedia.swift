import Foundation
import FuzzSupport
import VidLMMedia

// The input is a media file (any container: the name has no extension, so libav probes the
// content). It is opened, probed, its timeline read (from the index or by a packet scan), and a
// few frames decoded in exact and key-frame modes at a small output size. Everything must end in
// a frame or a MediaError: no trap, no memory error in our code (libav itself is not
// instrumented), no hang.

private let clip = FuzzSupport.folder("media").appendingPathComponent("clip")
private let small = PixelSize(width: 32, height: 24)

@_cdecl("LLVMFuzzerInitialize")
public func fuzzMediaInitialize(_ argc: UnsafeMutablePointer<CInt>,
                                _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    // Two decoders per request (so the parallel-GOP path runs), one libav thread each.
    setenv("VIDLM_THREADS", "2", 0)
    Diagnostics.setSink { _ in }  // substitutions and skipped packets are expected here
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMedia(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzSupport.write(UnsafeRawBufferPointer(start: bytes, count: size), to: clip)
    let path = clip.path
    FuzzSupport.runBlocking {
        let decoder: MediaDecoder
        do {
            decoder = try await MediaDecoder.open(path, threads: 1)
        } catch {
            precondition(error is MediaError, "open threw \(error)")
            FuzzSupport.note(String(describing: error))
            return
        }
        _ = try? await decoder.probe()
        let timeline: Timeline
        do { timeline = try await decoder.timeline() } catch { FuzzSupport.note("\(error)"); return }
        FuzzSupport.note("timeline: \(timeline.count) frames")
        precondition(timeline.count == timeline.pts.count)
        let requests = [
            FrameRequest(.uniform(count: 3), size: small),
            FrameRequest(.uniform(count: 2), mode: .nearestKeyframe, size: small),
            FrameRequest(.timestamps([0, 0.5]), size: small),
        ]
        for request in requests {
            guard let planned = try? await decoder.plan(request) else { continue }
            var got = 0
            do {
                for try await frame in decoder.frames(request) {
                    precondition(frame.image.pixels.count == frame.image.width * frame.image.height * 3)
                    precondition(frame.image.width == small.width && frame.image.height == small.height)
                    got += 1
                }
                precondition(got <= planned.count, "more frames than planned")
                FuzzSupport.note("\(got) of \(planned.count) frames")
            } catch {
                precondition(error is MediaError, "frames threw \(type(of: error)): \(error)")
                FuzzSupport.note("frames: \(error)")
            }
        }
        if timeline.count > 0 {
            _ = try? await decoder.frame(at: timeline.count - 1, size: small)
            _ = try? await decoder.keyframe(near: 0, size: small)
        }
        _ = try? await decoder.timeline(forceScan: true)
    }
    // Every decoder must be gone once the work is done, and so its thread (DedicatedThreadExecutor
    // names it; libav's decoding threads inherit the name).
    FuzzSupport.waitForThreadsToEnd(named: "vidlm-media")
    return 0
}
