// In-process timer for the media benchmarks: opens the file fresh for every repetition (as
// decord/PyAV do when they construct a reader) and prints one JSON object on stdout.
//
//   vidlm-bench sample <file> --count N [--mode exact|keyframe] [--repeat R] [--dump DIR]
//   vidlm-bench sequential <file> [--repeat R]
//   vidlm-bench serve   (one process for many requests, as run.py keeps decord and PyAV: each stdin
//                        line is a JSON array of the arguments above, each reply one JSON line)
//   vidlm-bench vision <model dir> [--batch B] [--repeat R]   (see VisionBench.swift)
//   vidlm-bench sgemm [--m M --n N --k K] [--repeat R]
//   vidlm-bench text --model DIR [--prompt-tokens P] [--new-tokens N] [--runs R]   (TextBench.swift)
//   vidlm-bench bandwidth [--mib M] [--runs R]                                    (TextBench.swift)
//   vidlm-bench agreement --model DIR --quantized QDIR [--positions P]                (QuantBench.swift)
//   vidlm-bench bridge DIR [--runs R] [--clips A,B] [--mergers A,B]                (BridgeBench.swift)
import Foundation
import VidLMMedia
import VidLMTensor

struct Options {
    var command = ""
    var path = ""
    var count = 8
    var mode = SeekMode.exact
    var repeatCount = 5
    var dump: String? = nil
}

func parse(_ arguments: [String]) -> Options? {
    var o = Options()
    var args = arguments
    guard args.count >= 2 else { return nil }
    o.command = args.removeFirst()
    o.path = args.removeFirst()
    while !args.isEmpty {
        let flag = args.removeFirst()
        guard let value = args.first else { return nil }
        args.removeFirst()
        switch flag {
        case "--count": o.count = Int(value) ?? 8
        case "--mode": o.mode = SeekMode(rawValue: value) ?? .exact
        case "--repeat": o.repeatCount = Int(value) ?? 5
        case "--dump": o.dump = value
        default: return nil
        }
    }
    return o
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func run(_ o: Options) async throws -> [String: Any] {
    var times: [Double] = []
    var indices: [Int] = []
    var decoded = 0
    for r in 0..<o.repeatCount {
        let start = now()
        let decoder = try await MediaDecoder.open(o.path)
        var frames: [VideoFrame] = []
        let request: FrameRequest = o.command == "sequential" ? FrameRequest(.all) : FrameRequest(.uniform(count: o.count), mode: o.mode)
        for try await f in decoder.frames(request) {
            if o.command == "sequential" { decoded += 1; indices.append(f.index); continue }
            frames.append(f)
        }
        times.append(now() - start)
        if o.command == "sequential" {
            if r < o.repeatCount - 1 { indices.removeAll(); decoded = 0 }
            continue
        }
        indices = frames.map(\.index)
        decoded = frames.count
        if r == 0, let dir = o.dump {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for f in frames {
                let url = URL(fileURLWithPath: dir).appendingPathComponent("frame-\(f.index).rgb")
                try Data(f.image.pixels).write(to: url)
            }
        }
    }
    return ["seconds": times, "indices": o.command == "sequential" ? [] : indices,
            "frames": decoded, "threads": ThreadBudget.cores]
}

if CommandLine.arguments.count >= 2, ["vision", "sgemm", "text", "bandwidth", "bridge", "template", "template-render", "tokenize", "agreement"].contains(CommandLine.arguments[1]) {
    do {
        let args = Array(CommandLine.arguments.dropFirst())
        let result: [String: Any]
        switch args[0] {
        case "text", "bandwidth": result = try TextBench.run(args)
        case "bridge": result = try BridgeBench.run(args)
        case "template": result = try TemplateBench.run(args)
        case "template-render": result = try TemplateRender.run(args)
        case "tokenize": result = try TokenizeCases.run(args)
        case "agreement":
            if let media = TextBench.string(args, "--media") {
                result = try await FamilyAgreementBench.run(args, media: media)
            } else {
                result = try QuantBench.run(args)
            }
        default: result = try VisionBench.run(args)
        }
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        FileHandle.standardOutput.write(data + Data("\n".utf8))
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("vidlm-bench: \(error)\n".utf8))
        exit(1)
    }
}

/// Answers requests from stdin until it closes (see the header).
func serve() async {
    while let line = readLine() {
        var reply: [String: Any]
        if let data = line.data(using: .utf8),
           let args = (try? JSONSerialization.jsonObject(with: data)) as? [String],
           let options = parse(args), ["sample", "sequential"].contains(options.command) {
            do { reply = try await run(options) } catch { reply = ["error": "\(error)"] }
        } else {
            reply = ["error": "not a JSON array of sample/sequential arguments: \(line)"]
        }
        let out = (try? JSONSerialization.data(withJSONObject: reply, options: [.sortedKeys])) ?? Data("{}".utf8)
        FileHandle.standardOutput.write(out + Data("\n".utf8))
    }
}

if CommandLine.arguments.dropFirst().first == "serve" {
    await serve()
    exit(0)
}

guard let options = parse(Array(CommandLine.arguments.dropFirst())), ["sample", "sequential"].contains(options.command) else {
    FileHandle.standardError.write(Data("usage: vidlm-bench sample|sequential FILE [--count N] [--mode exact|keyframe] [--repeat R] [--dump DIR]\n".utf8))
    exit(2)
}
do {
    let result = try await run(options)
    let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
} catch {
    FileHandle.standardError.write(Data("vidlm-bench: \(error)\n".utf8))
    exit(1)
}
