/// A `post_processor` of tokenizer.json, as far as it changes the ids of one sequence: the special
/// tokens around it (BOS/EOS, [CLS]/[SEP], <s>/</s>). Offsets-only processors pass ids through.
indirect enum TokenPostProcessor: Sendable {
    case template([TemplatePiece])
    case wrap(prefix: [Int], suffix: [Int])
    case byteLevel
    case sequence([TokenPostProcessor])

    enum TemplatePiece: Sendable, Equatable {
        case sequence
        case special([Int])
    }

    static func parse(_ value: TokenizerJSON, path: String, file: String) throws(TokenizerError) -> TokenPostProcessor {
        let obj = try TokenizerJSONObject(value, path: path, file: file)
        guard let type = try obj.typeTag() else {
            throw TokenizerError.invalid(file: file, message: "'\(path)' has no \"type\".")
        }
        switch type {
        case "Sequence":
            let items = try obj.array("processors")
            var parts: [TokenPostProcessor] = []
            for (i, item) in items.enumerated() { parts.append(try parse(item, path: "\(obj.key("processors"))[\(i)]", file: file)) }
            return .sequence(parts)
        case "ByteLevel":
            return .byteLevel
        case "BertProcessing", "RobertaProcessing":
            let sep = try pair(obj, "sep"), cls = try pair(obj, "cls")
            return .wrap(prefix: [cls], suffix: [sep])
        case "TemplateProcessing":
            return .template(try parseTemplate(obj))
        default:
            throw TokenizerError.unsupported(file: file, component: "post-processor", type: type)
        }
    }

    /// `["[SEP]", 102]` -> 102.
    private static func pair(_ obj: TokenizerJSONObject, _ name: String) throws(TokenizerError) -> Int {
        let items = try obj.array(name)
        guard items.count == 2, case .string = items[0] else {
            throw TokenizerError.invalid(file: obj.file, message: "'\(obj.key(name))' must be a pair [token, id].")
        }
        return try TokenizerJSONObject.int(items[1], path: obj.key(name) + "[1]", file: obj.file)
    }

    private static func parseTemplate(_ obj: TokenizerJSONObject) throws(TokenizerError) -> [TemplatePiece] {
        var specials: [TokenString: [Int]] = [:]
        if let table = try obj.optionalObject("special_tokens") {
            for (key, entry) in table.fields {
                let name = key.string
                let e = try TokenizerJSONObject(entry, path: table.key(name), file: obj.file)
                var ids: [Int] = []
                for (i, v) in try e.array("ids").enumerated() { ids.append(try TokenizerJSONObject.int(v, path: "\(e.key("ids"))[\(i)]", file: obj.file)) }
                specials[key] = ids
            }
        }
        // The template: a list of {"SpecialToken": {"id": ...}} / {"Sequence": {"id": "A"}} pieces,
        // or the string form "<s> $A".
        var names: [(String?, Bool)] = []  // (special token name, isSequenceA)
        switch obj.field("single") {
        case .array(let items)?:
            for (i, item) in items.enumerated() {
                let piece = try TokenizerJSONObject(item, path: "\(obj.key("single"))[\(i)]", file: obj.file)
                if let special = try piece.optionalObject("SpecialToken") {
                    names.append((try special.string("id"), false))
                } else if let seq = try piece.optionalObject("Sequence") {
                    let id = try seq.string("id")
                    names.append((nil, id == "A"))
                } else {
                    throw TokenizerError.invalid(file: obj.file, message: "'\(piece.path)' must be a SpecialToken or a Sequence.")
                }
            }
        case .string(let text)?:
            for word in text.split(separator: " ") {
                let base = word.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
                if base.hasPrefix("$") {
                    names.append((nil, base == "$" || base == "$A" || base == "$0"))
                } else {
                    names.append((base, false))
                }
            }
        default:
            throw obj.fail("single", "a list of template pieces")
        }
        var pieces: [TemplatePiece] = []
        for (name, isA) in names {
            if let name {
                guard let ids = specials[TokenString(name)] else {
                    throw TokenizerError.invalid(file: obj.file, message: "'\(obj.key("single"))' uses the special token '\(name)', which 'special_tokens' does not define.")
                }
                pieces.append(.special(ids))
            } else if isA {
                pieces.append(.sequence)
            }
        }
        return pieces
    }

    /// The ids with this processor's special tokens added.
    func process(_ ids: [Int]) -> [Int] {
        switch self {
        case .template(let pieces):
            var out: [Int] = []
            out.reserveCapacity(ids.count + 4)
            for p in pieces {
                switch p {
                case .sequence: out.append(contentsOf: ids)
                case .special(let s): out.append(contentsOf: s)
                }
            }
            return out
        case .wrap(let prefix, let suffix):
            return prefix + ids + suffix
        case .byteLevel:
            return ids
        case .sequence(let parts):
            var ids = ids
            for p in parts { ids = p.process(ids) }
            return ids
        }
    }
}
