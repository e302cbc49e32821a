import Foundation

/// One entry of `frames.json`.
public struct ExportedFrame: Sendable, Codable, Equatable {
    public var index: Int
    public var pts: Int64
    public var seconds: Double
    public var file: String
    public var width: Int
    public var height: Int
}

/// Writes frames as `frame-000.png`, … plus `frames.json` into a folder that appears whole or
/// not at all: everything goes to a hidden sibling folder first, which is renamed at the end and
/// removed on any error or cancellation.
public enum FrameFolderWriter {
    public static func write(_ frames: AsyncThrowingStream<VideoFrame, Error>, to folder: URL) async throws -> [ExportedFrame] {
        let fm = FileManager.default
        let destination = folder.standardizedFileURL
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: destination.path, isDirectory: &isDirectory) {
            let contents = (try? fm.contentsOfDirectory(atPath: destination.path)) ?? []
            guard isDirectory.boolValue, contents.isEmpty else {
                throw MediaError.writeFailed("\(destination.path) already exists; choose a new output folder")
            }
        }
        let parent = destination.deletingLastPathComponent()
        guard fm.fileExists(atPath: parent.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw MediaError.writeFailed("the folder \(parent.path) does not exist")
        }
        let staging = parent.appendingPathComponent(".\(destination.lastPathComponent).partial-\(UUID().uuidString)")
        do {
            try fm.createDirectory(at: staging, withIntermediateDirectories: false)
        } catch {
            throw MediaError.writeFailed("cannot create a folder in \(parent.path)")
        }
        var written: [ExportedFrame] = []
        do {
            for try await frame in frames {
                let name = String(format: "frame-%03d.png", written.count)
                try PNGEncoder.write(frame.image, to: staging.appendingPathComponent(name))
                written.append(ExportedFrame(index: frame.index, pts: frame.pts, seconds: frame.seconds,
                                             file: name, width: frame.image.width, height: frame.image.height))
            }
            try Task.checkCancellation()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try write(try encoder.encode(written), to: staging.appendingPathComponent("frames.json"))
            if fm.fileExists(atPath: destination.path) { try fm.removeItem(at: destination) }
            try fm.moveItem(at: staging, to: destination)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
        return written
    }

    private static func write(_ data: Data, to url: URL) throws {
        do {
            try data.write(to: url)
        } catch {
            throw MediaError.writeFailed("cannot write \(url.lastPathComponent): \(error.localizedDescription)")
        }
    }
}
