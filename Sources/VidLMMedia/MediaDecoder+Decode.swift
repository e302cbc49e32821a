import CFFmpeg

extension MediaDecoder {
    /// Decodes the frame with presentation index `index` (exact mode) and returns it upright,
    /// converted to RGB at `size` (display orientation) or the display size.
    ///
    /// Requests in increasing index order decode forward without seeking while the next frame's
    /// key frame is behind the decoder's position; otherwise the decoder seeks to the last key
    /// frame presenting at or before the wanted frame. If decoding from there cannot produce the
    /// frame (open GOPs: leading frames need the previous GOP, and libavcodec withholds frames
    /// that reference them even at the end of the stream), it steps back one key frame more.
    /// Each decoded frame is identified by its pts; frames sharing a pts by the order they come out.
    public func frame(at index: Int, size: PixelSize? = nil) throws(MediaError) -> VideoFrame {
        let t = try timeline()
        guard index >= 0, index < t.count else {
            throw .invalidRequest("Frame \(index) does not exist (the clip has \(t.count) frames).")
        }
        if let still = try libraryStill(timeline: t, size: size) { return still }
        let target = t.pts[index]
        if heldIndex == index, heldIsExact, let p = heldPts {
            return try output(held, index: index, pts: p, timeline: t, size: size)
        }

        if skippedAfterTarget && plannedNext != index { needsSeek = true }
        skippedAfterTarget = false
        var position = t.keyframePosition(beforeIndex: index)
        var seeked = false
        if needsSeek || heldIndex.map({ index < $0 }) == true
            || lastOutputIndex.map({ t.shouldSeek(fromIndex: $0, toIndex: index) }) == true {
            try seek(toKeyframe: position, on: t)
            seeked = true
        }
        if let h = heldIndex, let p = heldPts, h > index {
            // Already past it without seeing it (damaged data): use what is there.
            return try substitute(for: index, labelled: h, pts: p, timeline: t, size: size)
        }
        // Skipping non-reference frames would lose count among frames that share a pts, or of
        // frames identified by their place in the output.
        let skipFor: Int64? = t.hasSharedPts || t.timestampsFromDecodeOrder ? nil : target
        // When the next expected frame needs a seek anyway, nothing after this one is worth
        // decoding: once its packet is in, the decoder drains rather than reading on.
        let next = expected.first { $0 > index }
        plannedNext = next
        let drain = skipFor != nil && !expected.isEmpty && next.map { t.shouldSeek(fromIndex: index, toIndex: $0) } ?? true
        var firstAfterSeek = seeked
        var steppedBack = false
        while true {
            try Task.checkCancellation(or: path)
            guard try nextFrame(for: skipFor, drainAfterIt: drain) else {
                if firstAfterSeek && position > 0 {
                    // Nothing came out of this seek (the demuxer landed past the key frame).
                    position -= 1
                    try seek(toKeyframe: position, on: t)
                    continue
                }
                if !steppedBack && seekPosition > 0 {
                    // The stream ended without the frame, decoding from a key frame inside it:
                    // after an open-GOP key frame libavcodec withholds frames whose references
                    // it never saw. Once more from the key frame before.
                    steppedBack = true
                    position = seekPosition - 1
                    try seek(toKeyframe: position, on: t)
                    firstAfterSeek = true
                    continue
                }
                // The stream ended first: the last frame decoded is the nearest we have.
                if let h = heldIndex, let p = heldPts {
                    return try substitute(for: index, labelled: h, pts: p, timeline: t, size: size)
                }
                throw .decodeFailed("frame \(index) of \(path) could not be decoded")
            }
            guard let (i, p, exact) = identifyDecoded(on: t) else { scratch.unref(); continue }
            lastOutputIndex = i
            if exact ? i < index : p < target {
                hold(index: i, pts: p, exact: exact)
                firstAfterSeek = false
                continue
            }
            if (exact ? i > index : p > target) && firstAfterSeek && position > 0 {
                // Started too late (e.g. an open-GOP leading frame): one key frame earlier.
                scratch.unref()
                position -= 1
                try seek(toKeyframe: position, on: t)
                continue
            }
            hold(index: i, pts: p, exact: exact)
            if !exact || i != index { return try substitute(for: index, labelled: i, pts: p, timeline: t, size: size) }
            return try output(held, index: i, pts: p, timeline: t, size: size)
        }
    }

    /// Which frame the decoded frame in `scratch` is: its index, pts, and whether that is exact
    /// (false: its pts is none of the timeline's, the index is the frame on screen then); nil
    /// when it has no timestamp at all.
    private func identifyDecoded(on t: Timeline) -> (Int, Int64, Bool)? {
        if t.timestampsFromDecodeOrder {
            // Closed GOPs: a key frame is the first of its GOP in decode and presentation order.
            let i = lastOutputIndex.map { $0 + 1 } ?? anchorIndex ?? 0
            return i < t.count ? (i, t.pts[i], true) : (t.count - 1, t.pts[t.count - 1], false)
        }
        guard let p = scratch.presentationTimestamp else { return nil }
        if let i = label(decodedPts: p, on: t) { return (i, p, true) }
        return (t.index(displayedAtPts: p), p, false)
    }

    /// The index of a decoded frame with pts `p`, nil if no frame of the timeline has that pts.
    /// Frames that share a pts come out of the decoder one after another: the first of them
    /// follows a frame presenting earlier (or a seek, which always lands on a key frame of a pts
    /// of its own), each next one follows its predecessor.
    private func label(decodedPts p: Int64, on t: Timeline) -> Int? {
        guard let group = t.indices(ofPts: p) else { return nil }
        if group.count > 1, let last = lastOutputIndex, group.contains(last) {
            return min(last + 1, group.upperBound)
        }
        return group.lowerBound
    }

    /// Keeps the decoded frame in `scratch` as the held frame.
    private func hold(index: Int, pts: Int64, exact: Bool) {
        scratch.move(into: held)
        heldPts = pts
        heldIndex = index
        heldIsExact = exact
    }

    /// The wanted frame cannot be decoded (damaged or missing data): the held frame stands in,
    /// reported under its own index, with a warning.
    private func substitute(for index: Int, labelled heldIndex: Int, pts: Int64, timeline t: Timeline,
                            size: PixelSize?) throws(MediaError) -> VideoFrame {
        let frame = try output(held, index: heldIndex, pts: pts, timeline: t, size: size)
        Diagnostics.warn("\(path): frame \(index) could not be decoded (damaged or missing data); returning frame \(frame.index) instead.")
        return frame
    }

    /// Approximate mode: the key frame nearest `index` (the first frame decoded from it).
    public func keyframe(near index: Int, size: PixelSize? = nil) throws(MediaError) -> VideoFrame {
        let t = try timeline()
        guard index >= 0, index < t.count else {
            throw .invalidRequest("Frame \(index) does not exist (the clip has \(t.count) frames).")
        }
        if let still = try libraryStill(timeline: t, size: size) { return still }
        var position = t.nearestKeyframePosition(to: t.pts[index])
        try seek(toKeyframe: position, on: t)
        // The key frame's own index: a demuxer whose seeks are approximate (MPEG-TS scans
        // timestamps) may land on an earlier key frame, or past this one (then it seeks to the
        // key frame before); frames before the target are decoded and passed over (the latest
        // is kept in case the stream ends first).
        let target = anchorIndex ?? 0
        var passed = false
        while true {
            try Task.checkCancellation(or: path)
            guard try nextFrame(for: nil, drainAfterIt: false) else {
                if passed, let i = heldIndex, let p = heldPts {
                    lastOutputIndex = i
                    return try output(held, index: i, pts: p, timeline: t, size: size)
                }
                // Nothing came out of this seek (it landed past the key frame): the key frame
                // before it, decoding on to the target.
                guard position > 0 else { throw .decodeFailed("no frame could be decoded near frame \(index) of \(path)") }
                position -= 1
                try seek(toKeyframe: position, on: t)
                continue
            }
            guard let (i, p, exact) = identifyDecoded(on: t) else { scratch.unref(); continue }
            if i > target && !passed && position > 0 {
                // The seek landed past the key frame (its first frame is a later one): from the
                // key frame before, decoding on to the target.
                scratch.unref()
                position -= 1
                try seek(toKeyframe: position, on: t)
                continue
            }
            hold(index: i, pts: p, exact: exact)
            if i < target {
                passed = true
                continue
            }
            lastOutputIndex = i
            return try output(held, index: i, pts: p, timeline: t, size: size)
        }
    }

    func seek(toKeyframe position: Int, on t: Timeline) throws(MediaError) {
        let codec = try openCodec()
        let keyPts = t.keyframes[position].pts
        anchorIndex = t.indices(ofPts: keyPts)?.lowerBound ?? t.index(displayedAtPts: keyPts)
        seekPosition = position
        if atStart && position == 0 && !needsSeekAfterScan {
            needsSeek = false
            return
        }
        stats.seeks += 1
        codec.flush()
        held.unref()
        heldPts = nil
        heldIndex = nil
        lastOutputIndex = nil
        packet.unref()  // a packet still waiting belongs to the old position
        packetWaiting = false
        inputEnded = false
        needsSeek = false
        let ts = t.keyframes[position].seekTimestamp
        needsSeekAfterScan = false
        if position == 0 || av_seek_frame(format.pointer, Int32(streamIndex), ts, AVSEEK_FLAG_BACKWARD) < 0 {
            try rewind()
        } else {
            atStart = false
        }
    }

    func openCodec() throws(MediaError) -> CodecContext {
        if let codec { return codec }
        let c = try CodecContext(stream: format.stream(streamIndex), threads: decoderThreads)
        codec = c
        return c
    }

    /// Receives the next decoded frame into `scratch`; false at the end of the stream.
    /// With a `target` pts, non-reference frames presenting before it, or after it and not
    /// expected, are skipped; `drainAfterIt`: once the target's packet is sent, the decoder is
    /// drained (and the next request seeks) instead of fed the packets after it.
    func nextFrame(for target: Int64?, drainAfterIt: Bool) throws(MediaError) -> Bool {
        let codec = try openCodec()
        var targetSent = false
        while true {
            let state: CodecContext.Receive
            do { state = try codec.receive(into: scratch) } catch {
                // A damaged frame: say so once, carry on with the next one.
                noteCorrupt(error)
                continue
            }
            switch state {
            case .frame:
                stats.framesDecoded += 1
                return true
            case .endOfStream:
                return false
            case .needInput:
                if targetSent && drainAfterIt && !packetWaiting && !inputEnded {
                    inputEnded = true
                    needsSeek = true
                }
                if inputEnded {
                    _ = try? codec.send(nil)
                    continue
                }
                if !packetWaiting {
                    guard try readVideoPacket() else {
                        inputEnded = true
                        _ = try? codec.send(nil)
                        continue
                    }
                }
                if skipNonReferenceFrames, let target, let p = packet.pts, p != target,
                   p < target || expectedPts.map({ !$0.contains(p) }) == true {
                    codec.skipFrame = AVDISCARD_NONREF
                    if p > target { skippedAfterTarget = true }
                } else {
                    codec.skipFrame = AVDISCARD_DEFAULT
                }
                if let target, packet.pts == target { targetSent = true }
                do {
                    packetWaiting = !(try codec.send(packet))
                } catch {
                    noteCorrupt(error)
                    packetWaiting = false
                }
                if !packetWaiting { packet.unref() }
            }
        }
    }

    /// Reads packets until one of the video stream's; false at end of file.
    private func readVideoPacket() throws(MediaError) -> Bool {
        while true {
            let more: Bool
            do { more = try format.readPacket(into: packet) } catch {
                if error == .invalidData { noteCorrupt(error); continue }
                throw .decodeFailed("reading \(path): \(error.description)")
            }
            guard more else { return false }
            atStart = false
            if packet.streamIndex == streamIndex {
                stats.packetsRead += 1
                return true
            }
            packet.unref()
        }
    }

    private func noteCorrupt(_ error: AVError) {
        stats.corruptPackets += 1
        if !warnedCorrupt {
            warnedCorrupt = true
            Diagnostics.warn("\(path): skipping damaged video data (\(error.description)); frames after it may be missing or damaged.")
        }
    }

    /// Converts a decoded frame to an upright RGB value; `size` resizes with the Pillow-exact
    /// bicubic resampler, so exported frames are the pixels the image processors would make.
    private func output(_ frame: Frame, index: Int, pts: Int64, timeline t: Timeline, size: PixelSize?) throws(MediaError) -> VideoFrame {
        if info.isStillImage, let picture = SixteenBitPicture.convert(frame) {
            return try present(picture, index: index, pts: pts, timeline: t, size: size)
        }
        let image = try scaler.convert(frame, width: frame.width, height: frame.height)
        return try present(image, index: index, pts: pts, timeline: t, size: size)
    }

    /// A converted picture turned upright (display matrix, or a still's EXIF orientation) and
    /// resized to `size` when one is asked for.
    func present(_ image: RGBImage, index: Int, pts: Int64, timeline t: Timeline, size: PixelSize?) throws(MediaError) -> VideoFrame {
        if let size, size.width <= 0 || size.height <= 0 || size.width > Self.maximumSide || size.height > Self.maximumSide {
            throw .invalidRequest("The output size \(size.width)x\(size.height) is not valid (1 to \(Self.maximumSide) pixels per side).")
        }
        var upright = ExifOrientation.apply(stillOrientation, to: Orientation.rotate(image, clockwise: rotation))
        if let size, size.width != upright.width || size.height != upright.height {
            do {
                upright = try upright.resized(width: size.width, height: size.height, filter: .bicubic)
            } catch {
                throw .invalidRequest("Cannot resize to \(size.width)x\(size.height): \(error)")
            }
        }
        return VideoFrame(index: index, pts: pts, seconds: t.seconds(ofPts: pts), image: upright)
    }
}
