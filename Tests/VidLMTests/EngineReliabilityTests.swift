import Foundation
import XCTest
import VidLMModels
import VidLMTensor
@testable import VidLM

/// Concurrency, cancellation and damaged checkpoints.
final class EngineReliabilityTests: XCTestCase {
    private func pixels(_ name: String) throws -> Tensor {
        try SafetensorsFile(url: Fixtures.parity(name).appendingPathComponent("inputs.safetensors")).tensor("pixel_values")
    }

    /// One engine serves concurrent requests: each gets the ids it gets alone.
    func testConcurrentRequestsMatchSequential() async throws {
        let engine = try await Engine.load(directory: Fixtures.parity("e2e_vidlm_tiny"))
        let x = try pixels("e2e_vidlm_tiny")
        let options = AskOptions(generation: .greedy(maxNewTokens: 12))
        let questions = ["what happens?", "which way does it move?", "what colour is it?", "how many shapes are there?"]
        var alone: [String: [Int]] = [:]
        for q in questions { alone[q] = try await engine.answer(.pixels(x), question: q, options: options).tokenIds }
        let together = try await withThrowingTaskGroup(of: (String, [Int]).self) { group in
            for q in questions {
                group.addTask { (q, try await engine.answer(.pixels(x), question: q, options: options).tokenIds) }
            }
            var out: [String: [Int]] = [:]
            for try await (q, ids) in group { out[q] = ids }
            return out
        }
        XCTAssertEqual(together, alone)
        XCTAssertGreaterThan(Set(alone.values).count, 1, "different questions should give different answers")
    }

    /// Engines of different families in one process, several requests computing at once: every
    /// request gets the ids it gets alone (no shared mutable state, no BLAS threading toggled).
    func testMixedFamiliesConcurrentlyMatchSequential() async throws {
        let names = ["e2e_vidlm_tiny", "e2e_blip2_opt", "e2e_instructblipvideo_llama"]
        var engines: [String: Engine] = [:]
        var inputs: [String: Tensor] = [:]
        for n in names {
            engines[n] = try await Engine.load(directory: Fixtures.parity(n))
            inputs[n] = try pixels(n)
        }
        let options = AskOptions(generation: .greedy(maxNewTokens: 10))
        let imageJobs = names.flatMap { n in ["what happens?", "what is it?"].map { (n, $0) } }
        // SmolVLM2 decodes its own frames from a clip.
        engines["smolvlm"] = try await Engine.load(directory: Fixtures.parity("smolvlm_tiny"))
        let clip = Fixtures.repo.appendingPathComponent("Tests/Fixtures/media/cfr_bframes.mp4").path
        let jobs = imageJobs + [("smolvlm", "Describe the video."), ("smolvlm", "What moves?")]
        func input(_ n: String) -> EngineInput { n == "smolvlm" ? .media(path: clip) : .pixels(inputs[n]!) }
        var alone: [String: [Int]] = [:]
        for (n, q) in jobs { alone[n + q] = try await engines[n]!.answer(input(n), question: q, options: options).tokenIds }
        let previous = await ComputeScheduler.shared.limit
        await ComputeScheduler.shared.setLimit(jobs.count)
        let together = try await withThrowingTaskGroup(of: (String, [Int]).self) { group in
            for (n, q) in jobs {
                let engine = engines[n]!, x = input(n)
                group.addTask { (n + q, try await engine.answer(x, question: q, options: options).tokenIds) }
            }
            var out: [String: [Int]] = [:]
            for try await (key, ids) in group { out[key] = ids }
            return out
        }
        await ComputeScheduler.shared.setLimit(previous)
        XCTAssertEqual(together, alone)
    }

    /// The scheduler lets `limit` requests compute at once and no more; a waiting request that is
    /// cancelled leaves at once.
    func testSchedulerBoundsConcurrentCompute() async throws {
        let scheduler = ComputeScheduler(limit: 2)
        let peak = PeakCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    try await scheduler.run {
                        peak.enter()
                        try await Task.sleep(for: .milliseconds(30))
                        peak.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(peak.maximum, 2)
        let blocker = Task { try await scheduler.run { try await Task.sleep(for: .seconds(2)) } }
        let blocker2 = Task { try await scheduler.run { try await Task.sleep(for: .seconds(2)) } }
        try await Task.sleep(for: .milliseconds(50))
        let waiter = Task { try await scheduler.run { 1 } }
        try await Task.sleep(for: .milliseconds(20))
        let start = ContinuousClock.now
        waiter.cancel()
        do { _ = try await waiter.value; XCTFail("a cancelled waiter should not run") } catch is CancellationError {}
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(500))
        blocker.cancel()
        blocker2.cancel()
    }

    /// A cancelled request stops with CancellationError instead of running to max tokens, and
    /// ending the event stream early ends the request.
    func testCancellationStopsTheRequest() async throws {
        let engine = try await Engine.load(directory: Fixtures.parity("e2e_vidlm_tiny"))
        let x = try pixels("e2e_vidlm_tiny")
        let options = AskOptions(generation: GenerationParameters(maxNewTokens: 60, stopTokenIds: []))
        let task = Task { try await engine.answer(.pixels(x), question: "what happens?", options: options) }
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("a cancelled request should not finish")
        } catch is CancellationError {
        }
        var texts = 0
        var finished = false
        for try await event in engine.ask(.pixels(x), question: "what happens?", options: options) {
            if case .text = event { texts += 1; break }
            if case .finished = event { finished = true }
        }
        XCTAssertEqual(texts, 1)
        XCTAssertFalse(finished)
    }

    /// Media decoding is cancelled too: a request on a real clip cancelled at once throws.
    func testCancellationDuringDecode() async throws {
        let engine = try await Engine.load(directory: Fixtures.parity("e2e_vidlm_tiny"))
        let clip = Fixtures.repo.appendingPathComponent("samples/clip.mp4").path
        let task = Task { try await engine.answer(.media(path: clip), question: "what happens?", options: AskOptions(frames: 4)) }
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("a cancelled request should not finish")
        } catch is CancellationError {
        } catch {
            // The decoder may surface cancellation as its own error type; it must not be a result.
        }
    }

    /// Cancelled media requests leave no decoder threads behind. Counted by name: each media
    /// decoder runs on a thread of its own called "vidlm-media"; libdispatch's and the compute
    /// pool's threads are the runtime's, started and reaped on their own schedule.
    func testCancelledRequestsLeaveNoThreads() async throws {
        func decoderThreads() throws -> Int {
            try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").filter {
                (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8))?.hasPrefix("vidlm-media") == true
            }.count
        }
        let engine = try await Engine.load(directory: Fixtures.parity("e2e_vidlm_tiny"))
        let clip = Fixtures.repo.appendingPathComponent("samples/clip.mp4").path
        let options = AskOptions(frames: 4, generation: GenerationParameters(maxNewTokens: 40, stopTokenIds: []))
        _ = try await engine.answer(.media(path: clip), question: "what happens?", options: options)  // warm pools
        try await Task.sleep(for: .milliseconds(300))
        let before = try decoderThreads()
        var during = 0
        for _ in 0..<4 {
            for try await event in engine.ask(.media(path: clip), question: "what happens?", options: options) {
                during = max(during, try decoderThreads())
                if case .encoded = event { break }  // stop mid-decode
            }
        }
        // The count can see decoder threads at all (they are named as expected).
        XCTAssertGreaterThan(during, before, "no decoder thread was seen while decoding")
        var after = try decoderThreads()
        for _ in 0..<20 where after > before {
            try await Task.sleep(for: .milliseconds(100))
            after = try decoderThreads()
        }
        XCTAssertLessThanOrEqual(after, before, "decoder threads before \(before), after \(after)")
    }

    /// Copies a model directory, letting `edit` change its tensors.
    private func damaged(_ name: String, _ edit: (inout [String: Tensor]) throws -> Void) throws -> URL {
        let source = Fixtures.parity(name)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("damaged-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for file in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        let file = try SafetensorsFile(url: source.appendingPathComponent("model.safetensors"))
        var tensors: [String: Tensor] = [:]
        for n in file.names { tensors[n] = try file.tensor(n).toF32() }
        try edit(&tensors)
        try SafetensorsWriter.write(tensors, to: dir.appendingPathComponent("model.safetensors"))
        return dir
    }

    func testNaNWeightIsALoadError() async throws {
        let name = "language_model.model.norm.weight"
        let dir = try damaged("e2e_vidlm_tiny") { t in
            var values = t[name]!.floats()
            values[3] = .nan
            t[name] = Tensor(shape: t[name]!.shape, values: values)
        }
        do {
            _ = try await Engine.load(directory: dir)
            XCTFail("NaN weights must not load")
        } catch {
            XCTAssertTrue("\(error)".contains(name), "\(error)")
        }
    }

    func testMissingUnexpectedAndMisshapenWeightsAreNamed() async throws {
        let dir = try damaged("e2e_vidlm_tiny") { t in
            t["llama_proj.bias"] = nil
            t["video_Qformer.extra.weight"] = Tensor(shape: [2], values: [1, 2])
            t["video_query_tokens"] = Tensor(shape: [1, 3, 32], values: Array(repeating: 0, count: 96))
        }
        do {
            _ = try await Engine.load(directory: dir)
            XCTFail("a damaged checkpoint must not load")
        } catch {
            let message = "\(error)"
            for name in ["llama_proj.bias", "video_Qformer.extra.weight", "video_query_tokens"] {
                XCTAssertTrue(message.contains(name), "\(message) should name \(name)")
            }
        }
    }

    func testUnknownModelType() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("unknown-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(#"{"model_type": "not_a_model"}"#.utf8).write(to: dir.appendingPathComponent("config.json"))
        do {
            _ = try await Engine.load(directory: dir)
            XCTFail("unknown model_type must not load")
        } catch let error as EngineError {
            XCTAssertEqual(error, .unknownModelType("not_a_model", known: ModelRegistry.knownModelTypes))
            XCTAssertTrue(error.description.contains("vidlm"))
        }
    }
}

/// Counts how many callers are inside at once.
final class PeakCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var current = 0
    private var peak = 0
    func enter() { lock.lock(); current += 1; peak = max(peak, current); lock.unlock() }
    func leave() { lock.lock(); current -= 1; lock.unlock() }
    var maximum: Int { lock.lock(); defer { lock.unlock() }; return peak }
}
