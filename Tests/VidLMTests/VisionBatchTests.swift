import Foundation
import XCTest
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

/// Frames encoded as one batch through the tower give the features of encoding them one by one,
/// for the shared single-tower families and SmolVLM's video frames, in f32 and in bf16. Every
/// attention head is computed the same way either way; products may not be: OpenBLAS picks edge
/// kernels by row count (f32: differences ~1e-6 of scale), and a tiny tower's single frame has
/// so few tokens (≤ 8) that bf16 weights take the matrix-vector kernel (bf16 widened, f32 FMAs)
/// while the batch takes the BF16 dot-product GEMM, which rounds its pair sums differently
/// (~1e-3 of scale after a few layers). Towers of real size (≥ 197 tokens) use the GEMM both ways.
/// On the portable paths (`VIDLM_PORTABLE_KERNELS=1`, or a CPU without AVX-512 BF16) the batch
/// widens weight blocks for sgemm instead, and the two orders of sums end up to about one bf16
/// step apart (2.5e-3 of scale measured on InstructBLIP-Video's tiny tower).
final class VisionBatchTests: XCTestCase {
    private func frames(_ count: Int) async throws -> [RGBImage] {
        let decoder = try await MediaDecoder.open(Fixtures.repo.appendingPathComponent("samples/clip.mp4").path)
        var out: [RGBImage] = []
        for try await frame in decoder.frames(FrameRequest(.uniform(count: count))) { out.append(frame.image) }
        XCTAssertEqual(out.count, count)
        return out
    }

    private func check(_ folder: URL, compute: ComputePrecision, kind: MediaKind, _ what: String) async throws {
        let engine = try await Engine.load(directory: folder, compute: compute)
        let images = try await frames(5)
        let batched = try engine.model.encode(frames: images, kind: kind)
        XCTAssertEqual(batched.count, images.count, what)
        for (i, image) in images.enumerated() {
            let single = try engine.model.encode(frame: image, kind: kind)
            let bf16Tolerance: Float = HalfPrecisionKernels.useAVX512BF16 ? 2e-3 : 4e-3
            assertClose(batched[i].features, single.features, tolerance: compute == .bf16 ? bf16Tolerance : 1e-5, "\(what): frame \(i)")
            XCTAssertEqual(batched[i].layout, single.layout, what)
        }
    }

    func testSingleTowerFamilies() async throws {
        for name in ["e2e_instructblipvideo_llama", "e2e_blip2_opt", "e2e_vidlm_tiny"] {
            try await check(Fixtures.parity(name), compute: .stored, kind: .video, name)
            try await check(Fixtures.parity(name), compute: .bf16, kind: .video, "\(name) bf16")
        }
    }

    func testSmolVLMVideoFrames() async throws {
        try await check(Fixtures.parity("smolvlm_tiny"), compute: .stored, kind: .video, "smolvlm video")
        try await check(Fixtures.parity("smolvlm_tiny"), compute: .bf16, kind: .video, "smolvlm video bf16")
    }

    /// The engine's path (frames batched as they arrive) answers as before.
    func testEngineBatchesWithoutChangingTheAnswer() async throws {
        let c = try EndToEndCase("e2e_instructblipvideo_llama")
        let engine = try await Engine.load(directory: c.folder)
        let media = try await engine.encodedMedia(.media(path: Fixtures.repo.appendingPathComponent("samples/clip.mp4").path),
                                                  options: AskOptions(frames: 5))
        XCTAssertEqual(media.parts.count, 5)
        let images = try await frames(5)
        for (i, image) in images.enumerated() {
            assertClose(media.parts[i].features, try engine.model.encode(frame: image, kind: .video).features, tolerance: 1e-5,
                        "engine frame \(i)")
        }
    }
}
