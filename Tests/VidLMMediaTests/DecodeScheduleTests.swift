import XCTest
@testable import VidLMMedia

final class DecodeScheduleTests: XCTestCase {
    /// 1800 frames at 30 fps, a key frame every 250 (the media benchmark's 1-minute clip).
    private let minute = Timeline(pts: (0..<1800).map { Int64($0) * 512 }, timeBase: 1.0 / 15360,
                                  endPts: 1800 * 512,
                                  keyframes: stride(from: 0, to: 1800, by: 250).map {
                                      .init(seekTimestamp: Int64($0) * 512, pts: Int64($0) * 512)
                                  })
    private let eight = [112, 337, 562, 787, 1012, 1237, 1462, 1687]

    func testCostsCountFramesFromTheKeyFrame() {
        let runs = FrameMerger.runs(eight, on: minute, exact: true)
        XCTAssertEqual(runs, [[112], [337], [562], [787], [1012, 1237], [1462], [1687]])
        let seek = DecodeSchedule.seekCost
        XCTAssertEqual(DecodeSchedule.costs(of: runs, on: minute),
                       [[113 + seek], [88 + seek], [63 + seek], [38 + seek], [13 + seek, 225], [213 + seek], [188 + seek]])
    }

    /// With packet sizes, a frame costs a quarter of an average frame plus three quarters of its
    /// share of the bytes: a key frame of 10 average frames' bytes weighs 7.75 frames.
    func testCostsFollowBytesWhenKnown() {
        // 20 frames, key frames at 0 and 10 of 100 bytes each, the others 10 bytes: mean 19.
        let sizes = (0..<20).map { $0 % 10 == 0 ? 100 : 10 }
        let t = Timeline(pts: (0..<20).map { Int64($0) }, timeBase: 1, endPts: 20,
                         keyframes: [.init(seekTimestamp: 0, pts: 0), .init(seekTimestamp: 10, pts: 10)],
                         packetSizes: sizes)
        XCTAssertEqual(t.bytesBefore?.last, 380)
        let mean = 19.0
        func frames(_ n: Int, bytes: Int) -> Double { 0.25 * Double(n) + 0.75 * Double(bytes) / mean }
        let costs = DecodeSchedule.costs(of: [[3, 5], [12]], on: t)
        XCTAssertEqual(costs[0][0], frames(4, bytes: 130) + DecodeSchedule.seekCost, accuracy: 1e-9)
        XCTAssertEqual(costs[0][1], frames(2, bytes: 20), accuracy: 1e-9)
        XCTAssertEqual(costs[1][0], frames(3, bytes: 120) + DecodeSchedule.seekCost, accuracy: 1e-9)
        // Sizes that do not match the frame count are ignored (frame counts instead).
        let odd = Timeline(pts: [0, 1, 2], timeBase: 1, endPts: 3, keyframes: [.init(seekTimestamp: 0, pts: 0)],
                           packetSizes: [1, 2])
        XCTAssertNil(odd.bytesBefore)
        XCTAssertEqual(DecodeSchedule.costs(of: [[2]], on: odd), [[3 + DecodeSchedule.seekCost]])
    }

    /// Non-reference frames before a wanted one are skipped, so they cost `skippedFrameCost`;
    /// a wanted frame is decoded whatever it is.
    func testSkippedNonReferenceFramesCostNextToNothing() {
        let sizes = (0..<20).map { $0 % 10 == 0 ? 100 : 10 }
        let t = Timeline(pts: (0..<20).map { Int64($0) }, timeBase: 1, endPts: 20,
                         keyframes: [.init(seekTimestamp: 0, pts: 0), .init(seekTimestamp: 10, pts: 10)],
                         packetSizes: sizes)
        let mean = 19.0
        func frames(_ n: Int, bytes: Int) -> Double { 0.25 * Double(n) + 0.75 * Double(bytes) / mean }
        let skip = DecodeSchedule.skippedFrameCost
        // Frames 1, 2 and 5 are non-reference: 1 and 2 are passed over on the way to 3; 5 is wanted.
        let costs = DecodeSchedule.costs(of: [[3, 5], [12]], on: t, nonReference: [1, 2, 5, 11])
        XCTAssertEqual(costs[0][0], frames(2, bytes: 110) + 2 * skip + DecodeSchedule.seekCost, accuracy: 1e-9)
        XCTAssertEqual(costs[0][1], frames(2, bytes: 20), accuracy: 1e-9)
        XCTAssertEqual(costs[1][0], frames(2, bytes: 110) + skip + DecodeSchedule.seekCost, accuracy: 1e-9)
        // An empty set is the plain byte model.
        XCTAssertEqual(DecodeSchedule.costs(of: [[3, 5], [12]], on: t, nonReference: []), DecodeSchedule.costs(of: [[3, 5], [12]], on: t))
        XCTAssertEqual(DecodeSchedule.decodedRanges(of: [[3, 5], [12], []], on: t), [0...5, 10...12])
    }

    /// With room for every frame, the schedule's time is the busiest decoder's total: the best
    /// split of the run costs, found here by trying every subset.
    func testUnboundedLookaheadFindsTheBestSplit() {
        let costs = DecodeSchedule.costs(of: FrameMerger.runs(eight, on: minute, exact: true), on: minute)
        let totals = costs.map { $0.reduce(0, +) }
        var best = Double.infinity
        for mask in 0..<(1 << totals.count) {
            var a = 0.0, b = 0.0
            for (r, c) in totals.enumerated() { if mask & (1 << r) != 0 { a += c } else { b += c } }
            best = min(best, max(a, b))
        }
        let plan = DecodeSchedule.plan(costs: costs, workers: 2, lookahead: 100)
        XCTAssertEqual(plan.makespan, best)
        var load = [0.0, 0.0]
        for (r, w) in plan.worker.enumerated() { load[w] += totals[r] }
        XCTAssertEqual(load.max(), best)
    }

    /// The hand-off model on a case worked by hand: runs of 10, 1 and 1 frames, two decoders,
    /// one frame ahead of the consumer. Round-robin puts runs 0 and 2 on decoder 0: frame 0 at
    /// 10, frame 1 (decoded at 1) at 10, frame 2 at 11. Decoder 1 taking runs 1 and 2: frame 2 is
    /// decoded at 2 but waits for frame 0 to be taken (10).
    func testModelHandOffTimes() {
        let costs: [[Double]] = [[10], [1], [1]]
        let model = DecodeSchedule.Model(costs: costs, lookahead: 2)
        XCTAssertEqual(model.makespan([0, 1, 0]), 11)
        XCTAssertEqual(model.makespan([0, 1, 1]), 10)
        // With no frame ahead, decoder 1 holds frame 1 until frame 0 is taken and only then decodes 2.
        XCTAssertEqual(DecodeSchedule.Model(costs: costs, lookahead: 1).makespan([0, 1, 1]), 11)
        XCTAssertEqual(DecodeSchedule.plan(costs: costs, workers: 2, lookahead: 2).makespan, 10)
    }

    func testEightFramesBalanceBetterThanRoundRobin() {
        let costs = DecodeSchedule.costs(of: FrameMerger.runs(eight, on: minute, exact: true), on: minute)
        for lookahead in 2...4 {
            let model = DecodeSchedule.Model(costs: costs, lookahead: lookahead)
            let roundRobin = model.makespan(DecodeSchedule.roundRobin(costs.count, 2))
            let plan = DecodeSchedule.plan(costs: costs, workers: 2, lookahead: lookahead)
            XCTAssertEqual(plan.makespan, model.makespan(plan.worker))
            // 969 frames of work: round-robin leaves 618 on one decoder; the best split is 486.
            XCTAssertEqual(roundRobin, 618)
            XCTAssertLessThanOrEqual(plan.makespan, lookahead == 2 ? 501 : 493, "lookahead \(lookahead)")
        }
    }

    /// Many runs (an fps request over a long clip) use the greedy path: every run assigned to a
    /// real decoder, never slower than round-robin.
    func testManyRunsGreedy() {
        var costs: [[Double]] = []
        var seed: UInt64 = 7
        for _ in 0..<300 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            costs.append([Double(5 + (seed >> 33) % 240)])
        }
        for workers in [2, 3] {
            let plan = DecodeSchedule.plan(costs: costs, workers: workers, lookahead: 3)
            XCTAssertEqual(plan.worker.count, costs.count)
            XCTAssertTrue(plan.worker.allSatisfy { (0..<workers).contains($0) })
            let model = DecodeSchedule.Model(costs: costs, lookahead: 3)
            XCTAssertLessThanOrEqual(plan.makespan, model.makespan(DecodeSchedule.roundRobin(costs.count, workers)))
            XCTAssertEqual(plan.makespan, model.makespan(plan.worker))
        }
        XCTAssertEqual(DecodeSchedule.plan(costs: [[3], [4]], workers: 1, lookahead: 2).worker, [0, 0])
        XCTAssertEqual(DecodeSchedule.plan(costs: [], workers: 2, lookahead: 2).worker, [])
    }

    func testMailboxHandsFramesOverInOrder() async throws {
        let box = FrameMailbox(lookahead: 2)
        try await box.deliver(testFrame(1), at: 1)
        try await box.deliver(testFrame(0), at: 0)
        let first = try await box.take(0)
        let second = try await box.take(1)
        XCTAssertEqual([first.index, second.index], [0, 1])
        // The consumer waits for a frame not yet there.
        async let third = box.take(2)
        try await Task.sleep(nanoseconds: 20_000_000)
        try await box.deliver(testFrame(2), at: 2)
        let got = try await third
        XCTAssertEqual(got.index, 2)
    }

    func testMailboxHoldsADecoderThatIsTooFarAhead() async throws {
        let box = FrameMailbox(lookahead: 2)
        let delivered = Counter()
        let two = testFrame(2)
        let late = Task {
            try await box.deliver(two, at: 2)  // frame 0 must be taken first
            await delivered.add()
        }
        try await Task.sleep(nanoseconds: 30_000_000)
        var count = await delivered.value
        XCTAssertEqual(count, 0)
        try await box.deliver(testFrame(0), at: 0)
        _ = try await box.take(0)
        try await late.value
        count = await delivered.value
        XCTAssertEqual(count, 1)
    }

    func testMailboxCancellationAndFailure() async throws {
        let box = FrameMailbox(lookahead: 1)
        let five = testFrame(5)
        let parked = Task { try await box.deliver(five, at: 5) }
        try await Task.sleep(nanoseconds: 20_000_000)
        parked.cancel()
        do {
            try await parked.value
            XCTFail("a cancelled hand-over must not complete")
        } catch is CancellationError {}

        let waiting = Task { try await box.take(0) }
        try await Task.sleep(nanoseconds: 20_000_000)
        waiting.cancel()
        do {
            _ = try await waiting.value
            XCTFail("a cancelled take must not return a frame")
        } catch is CancellationError {}

        struct Broken: Error {}
        await box.fail(Broken(), at: 0)
        do {
            _ = try await box.take(0)
            XCTFail("the failure at position 0 must reach the consumer")
        } catch is Broken {}
    }
}

private func testFrame(_ i: Int) -> VideoFrame {
    VideoFrame(index: i, pts: Int64(i), seconds: Double(i), image: RGBImage(width: 1, height: 1, pixels: [UInt8(i), 0, 0]))
}

private actor Counter {
    var value = 0
    func add() { value += 1 }
}
