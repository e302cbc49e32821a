import CFFmpeg

extension MediaDecoder {
    /// Decodes the frame with presentation index `index` (exact mode) and returns it upright,
    /// converted to RGB at `size` (display orientation) or the display size.
    ///
    /// Requests in increasing index order decode forward without seeking while the next frame's
    /// key frame is behind the decoder's position; otherwise the decoder seeks to the last key
    /// frame presenting at or before the wanted frame. If decoding from there cannot produce the
    /// frame (open GOPs: leading frames need the previous GOP), it steps back one key frame more.
    public func frame(at index: Int, size: PixelSize? = nil) throws(MediaError) -> VideoFrame {
        let t = try timeline()
        guard index >= 0, index < t.count else {
            throw .invalidRequest("Frame \(index) does not exist (the clip has \(t.count) frames).")
        }
        let target = t.pts[index]
        if heldPts == target { return try output(held, pts: target, timeline: t, size: size) }

        var position = t.keyframePosition(before: target)
        var seeked = false
        if needsSeek || heldPts.map({ target < $0 }) == true
            || lastOutputPts.map({ t.shouldSeek(from: $0, to: target) }) == true {
            try seek(toKeyframe: position, on: t)
            seeked = true
        }
        if let h = heldPts, h > target {
            // Already past it without seeing it (damaged data): use what is there.
            return try substitute(for: index, pts: h, timeline: t, size: size)
        }
        var firstAfterSeek = seeked
        while true {
            try Task.checkCancellation(or: path)
            guard try nextFrame(before: target) else {
                if firstAfterSeek && position > 0 {
                    // Nothing came out of this seek (the demuxer landed past the key frame).
                    position -= 1
                    try seek(toKeyframe: position, on: t)
                    continue
                }
                // The stream ended first: the last frame decoded is the nearest we have.
                if let h = heldPts { return try substitute(for: index, pts: h, timeline: t, size: size) }
                throw .decodeFailed("frame \(index) of \(path) could not be decoded")
            }
            guard let p = scratch.bestEffortTimestamp else { scratch.unref(); continue }
            lastOutputPts = p
            if p < target {
                scratch.move(into: held)
                heldPts = p
                firstAfterSeek = false
                continue
            }
            if p > target && firstAfterSeek && position > 0 {
                // Started too late (e.g. an open-GOP leading frame): one key frame earlier.
                scratch.unref()
                position -= 1
                try seek(toKeyframe: position, on: t)
                continue
            }
            scratch.move(into: held)
            heldPts = p
            if p != target { return try substitute(for: index, pts: p, timeline: t, size: size) }
            return try output(held, pts: p, timeline: t, size: size)
        }
    }

    /// The wanted frame cannot be decoded (damaged or missing data): the held frame stands in,
    /// reported under its own index, with a warning.
    private func substitute(for index: Int, pts: Int64, timeline t: Timeline, size: PixelSize?) throws(MediaError) -> VideoFrame {
        let frame = try output(held, pts: pts, timeline: t, size: size)
        Diagnostics.warn("\(path): frame \(index) could not be decoded (damaged or missing data); returning frame \(frame.index) instead.")
        return frame
    }

    /// Approximate mode: the first frame decoded after seeking to the key frame nearest `index`.
    public func keyframe(near index: Int, size: PixelSize? = nil) throws(MediaError) -> VideoFrame {
        let t = try timeline()
        guard index >= 0, index < t.count else {
            throw .invalidRequest("Frame \(index) does not exist (the clip has \(t.count) frames).")
        }
        let position = t.nearestKeyframePosition(to: t.pts[index])
        try seek(toKeyframe: position, on: t)
        while true {
            try Task.checkCancellation(or: path)
            guard try nextFrame(before: nil) else { throw .decodeFailed("no frame could be decoded near frame \(index) of \(path)") }
            guard let p = scratch.bestEffortTimestamp else { scratch.unref(); continue }
            lastOutputPts = p
            scratch.move(into: held)
            heldPts = p
            return try output(held, pts: p, timeline: t, size: size)
        }
    }

    func seek(toKeyframe position: Int, on t: Timeline) throws(MediaError) {
        let codec = try openCodec()
        if atStart && position == 0 && !needsSeekAfterScan {
            needsSeek = false
            return
        }
        stats.seeks += 1
        codec.flush()
        held.unref()
        heldPts = nil
        lastOutputPts = nil
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
    /// Packets presenting before `target` may skip non-reference frames.
    func nextFrame(before target: Int64?) throws(MediaError) -> Bool {
        let codec = try openCodec()
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
                if skipNonReferenceFrames, let target, let p = packet.pts, p < target {
                    codec.skipFrame = AVDISCARD_NONREF
                } else {
                    codec.skipFrame = AVDISCARD_DEFAULT
                }
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
    private func output(_ frame: Frame, pts: Int64, timeline t: Timeline, size: PixelSize?) throws(MediaError) -> VideoFrame {
        if let size, size.width <= 0 || size.height <= 0 || size.width > Self.maximumSide || size.height > Self.maximumSide {
            throw .invalidRequest("The output size \(size.width)x\(size.height) is not valid (1 to \(Self.maximumSide) pixels per side).")
        }
        let image = try scaler.convert(frame, width: frame.width, height: frame.height)
        var upright = Orientation.rotate(image, clockwise: rotation)
        if let size, size.width != upright.width || size.height != upright.height {
            do {
                upright = try upright.resized(width: size.width, height: size.height, filter: .bicubic)
            } catch {
                throw .invalidRequest("Cannot resize to \(size.width)x\(size.height): \(error)")
            }
        }
        let index = t.index(displayedAtPts: pts)
        return VideoFrame(index: index, pts: pts, seconds: t.seconds(ofPts: pts), image: upright)
    }
}
