import Foundation
import VidLMTensor

/// Writes a quantized copy of a model directory (`vidlm quantize`): every linear weight of the
/// decoder — and of the vision tower and bridge unless skipped — in a block format (q8_0, q4_0,
/// q4_k),
/// stored as U8 block tables (see `QuantizedSafetensors`); embeddings, norms, biases and every
/// other tensor keep their dtype. config.json gains `quantization_config`; every other file
/// (tokenizer, processor, chat template, generation config) is copied. The output folder is
/// built under a temporary name beside it and renamed at the end, so it appears whole or not at all.
public enum ModelQuantizer {
    /// Which part of a vision-language model a weight belongs to (by its checkpoint name).
    public enum Component: String, Sendable, CaseIterable {
        case decoder, vision, bridge
    }

    public struct Summary: Sendable {
        public var quantized = 0
        public var kept = 0
        public var bytesIn = 0
        public var bytesOut = 0
        /// Tensors written in `fallback` (q4_k only).
        public var fallback = 0
    }

    /// Name fragments of vision-tower and bridge weights across the families (BLIP-2,
    /// InstructBLIP(-Video), vidlm / Video-LLaMA, SmolVLM, LLaVA); everything else is the decoder.
    static let visionMarkers = ["vision_model.", "vision_tower.", "visual.", "vision_encoder."]
    static let bridgeMarkers = ["qformer.", "video_qformer.", "query_tokens", "language_projection.", "llama_proj.",
                                "connector.", "multi_modal_projector.", "token_merger.", "merger.", "mm_projector."]

    public static func component(of name: String) -> Component {
        let n = name.lowercased()
        if visionMarkers.contains(where: { n.hasPrefix($0) || n.contains("." + $0) }) { return .vision }
        if bridgeMarkers.contains(where: { n.hasPrefix($0) || n.contains("." + $0) }) { return .bridge }
        return .decoder
    }

    /// A linear layer's weight: `*.weight`, a float matrix, and not an embedding table or a norm.
    public static func isLinearWeight(_ name: String, dtype: DType, shape: [Int]) -> Bool {
        let n = name.lowercased()
        return n.hasSuffix(".weight") && shape.count == 2 && dtype.isFloatingPoint
            && !n.contains("embed") && !n.contains("norm") && !n.contains("wte.") && !n.contains("wpe.")
    }

    public static let configKey = "quantization_config"

    /// Where a q4_k tensor's inner size is not a multiple of 256 (SigLIP's 1152, SmolVLM2-256M's
    /// 576), it is written in q8_0, as llama.cpp falls back to a 32-block format there; q8_0
    /// keeps at least q4_k's accuracy on those few tensors.
    public static let fallback = DType.q8_0

    /// The format a linear weight of inner size `k` is written in, or nil when none fits.
    static func target(for k: Int, format: DType) -> DType? {
        if k % format.blockElements == 0 { return format }
        if format.isKQuant && k % fallback.blockElements == 0 { return fallback }
        return nil
    }

    /// Quantizes `input` into `output` (which must not exist). `progress` gets one line per step.
    @discardableResult
    public static func quantize(input: URL, output: URL, format: DType, skip: Set<Component> = [],
                                progress: (String) -> Void = { _ in }) throws -> Summary {
        precondition(format.isBlockQuantized, "quantize needs a block format")
        let fm = FileManager.default
        guard !exists(output.path) else { throw QuantizeError.outputExists(output.path) }
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: input.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw QuantizeError.notAModel(input.path, "does not exist or is not a folder")
        }
        let configURL = input.appendingPathComponent("config.json")
        guard let configData = fm.contents(atPath: configURL.path),
              var config = (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any] else {
            throw QuantizeError.notAModel(input.path, "has no readable config.json object")
        }
        if config[configKey] != nil { throw QuantizeError.alreadyQuantized(input.path) }
        let store = try WeightStore(directory: input)
        if store.files.contains(where: { $0.metadata?[QuantizedSafetensors.metadataKey] != nil }) {
            throw QuantizeError.alreadyQuantized(input.path)
        }

        // The plan, checked whole before anything is written: each tensor's target format, or
        // nil to keep it.
        var plan: [String: DType?] = [:]
        for name in store.names {
            let info = try store.info(name)
            guard isLinearWeight(name, dtype: info.dtype, shape: info.shape) && !skip.contains(component(of: name)) else {
                plan[name] = .some(nil)
                continue
            }
            guard let chosen = target(for: info.shape[1], format: format) else {
                throw QuantizeError.innerSize(name: name, shape: info.shape, format: format)
            }
            plan[name] = chosen
        }
        guard plan.values.contains(where: { $0 != nil }) else { throw QuantizeError.nothingToQuantize(input.path) }

        let parent = output.deletingLastPathComponent()
        let temporary = parent.appendingPathComponent(".\(output.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        do {
            try fm.createDirectory(at: temporary, withIntermediateDirectories: false)
        } catch {
            throw QuantizeError.cannotWrite(parent.path, "cannot create a folder there")
        }
        var finished = false
        defer { if !finished { try? fm.removeItem(at: temporary) } }

        var summary = Summary()
        let total = plan.values.filter { $0 != nil }.count
        for file in store.files {
            var tensors: [String: Tensor] = [:]
            for name in file.names {
                guard let entry = plan[name] else { continue }
                let t = try file.tensor(name)
                summary.bytesIn += t.byteCount
                if let target = entry {
                    if let at = t.firstNonFiniteElement() {
                        throw QuantizeError.nonFinite(name: name, index: at)
                    }
                    summary.quantized += 1
                    let note = target == format ? "" : " (inner size \(t.shape[1]) is not a multiple of \(format.blockElements))"
                    if target != format { summary.fallback += 1 }
                    progress("[\(summary.quantized)/\(total)] \(name) \(t.shape) \(t.dtype.rawValue) -> \(BlockQuantization.name(of: target))\(note)")
                    tensors[name] = t.quantized(to: target)
                } else {
                    summary.kept += 1
                    tensors[name] = t
                }
                summary.bytesOut += tensors[name]!.byteCount
            }
            guard !tensors.isEmpty else { continue }
            let fileName = URL(fileURLWithPath: file.path).lastPathComponent
            var metadata = file.metadata ?? [:]
            metadata.removeValue(forKey: QuantizedSafetensors.metadataKey)
            try SafetensorsWriter.write(tensors, metadata: metadata.isEmpty ? nil : metadata,
                                        to: temporary.appendingPathComponent(fileName))
            progress("wrote \(fileName)")
        }

        try copyOtherFiles(from: input, to: temporary, sizeOut: summary.bytesOut)
        config[configKey] = [
            "quant_method": "vidlm",
            "format": BlockQuantization.name(of: format),
            "block_size": BlockQuantization.blockElements,
            "quantized_components": Component.allCases.filter { !skip.contains($0) }.map(\.rawValue),
            "quantized_tensors": summary.quantized,
        ] as [String: Any]
        if summary.fallback > 0, var q = config[configKey] as? [String: Any] {
            q["fallback_format"] = BlockQuantization.name(of: fallback)
            q["fallback_tensors"] = summary.fallback
            config[configKey] = q
        }
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try write(data, to: temporary.appendingPathComponent("config.json"))

        // Another process may have made `output` meanwhile: never replace it.
        guard !exists(output.path) else { throw QuantizeError.outputExists(output.path) }
        guard rename(temporary.path, output.path) == 0 else {
            throw QuantizeError.cannotWrite(output.path, String(cString: strerror(errno)))
        }
        finished = true
        return summary
    }

    /// Everything beside the weights and config.json: tokenizer, processor and template files,
    /// generation config, sub-folders (a Q-Former tokenizer). A shard index is rewritten with the
    /// new total size; other weight formats (.bin, .gguf, …) and hidden files are left out.
    static func copyOtherFiles(from input: URL, to output: URL, sizeOut: Int) throws {
        let fm = FileManager.default
        let skipped = [".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".h5", ".msgpack", ".onnx"]
        let entries = (try? fm.contentsOfDirectory(atPath: input.path)) ?? []
        for entry in entries.sorted() where !entry.hasPrefix(".") && entry != "config.json" {
            let src = input.appendingPathComponent(entry), dst = output.appendingPathComponent(entry)
            if entry == WeightStore.indexFileName {
                guard let data = fm.contents(atPath: src.path),
                      var index = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                    throw QuantizeError.notAModel(input.path, "has an unreadable \(entry)")
                }
                var meta = index["metadata"] as? [String: Any] ?? [:]
                meta["total_size"] = sizeOut
                index["metadata"] = meta
                try write(try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys]), to: dst)
                continue
            }
            if skipped.contains(where: { entry.hasSuffix($0) }) { continue }
            do {
                try fm.copyItem(at: src, to: dst)
            } catch {
                throw QuantizeError.cannotWrite(dst.path, "copying \(entry) failed")
            }
        }
    }

    static func write(_ data: Data, to url: URL) throws {
        do {
            try data.write(to: url)
        } catch {
            throw QuantizeError.cannotWrite(url.path, "writing failed")
        }
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }
}

/// Why a model could not be quantized, in one sentence.
public enum QuantizeError: Error, CustomStringConvertible, Equatable {
    case outputExists(String)
    case notAModel(String, String)
    case alreadyQuantized(String)
    case unknownType(String)
    case unknownComponent(String)
    case innerSize(name: String, shape: [Int], format: DType)
    case nonFinite(name: String, index: Int)
    case nothingToQuantize(String)
    case cannotWrite(String, String)

    public var description: String {
        switch self {
        case let .outputExists(path):
            return "\(path) already exists; quantize writes a new folder and never replaces one."
        case let .notAModel(path, why):
            return "\(path) is not a model folder: it \(why)."
        case let .alreadyQuantized(path):
            return "\(path) is already quantized (its config.json has quantization_config); quantize the original model instead."
        case let .unknownType(name):
            return "Unknown quantization type '\(name)'; known types: \(BlockQuantization.knownNames)."
        case let .unknownComponent(name):
            return "Unknown part '\(name)' for --skip; known parts: vision, bridge."
        case let .innerSize(name, shape, format):
            let part = ModelQuantizer.component(of: name)
            let hint = part == .decoder ? "" : "; leave the \(part.rawValue) unquantized with --skip \(part.rawValue)"
            return "Cannot quantize '\(name)' \(shape) to \(BlockQuantization.name(of: format)): its inner size \(shape.last ?? 0) is not a multiple of \(format.isKQuant ? ModelQuantizer.fallback.blockElements : format.blockElements)\(hint)."
        case let .nonFinite(name, index):
            return "Cannot quantize '\(name)': element \(index) is Inf or NaN."
        case let .nothingToQuantize(path):
            return "\(path) has no linear weights to quantize (with the parts left after --skip)."
        case let .cannotWrite(path, why):
            return "Cannot write \(path): \(why)."
        }
    }
}
