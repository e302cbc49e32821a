import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// All weights of a model directory, by tensor name, across however many files hold them.
///
/// Layouts, tried in this order (the order transformers uses):
/// 1. `model.safetensors`;
/// 2. `model.safetensors.index.json` + the shards its `weight_map` names;
/// 3. every `*.safetensors` file in the directory (a name in two files is an error).
///
/// Every file is opened and its header validated in `init`, and for an index every mapped name
/// is checked against its shard, so a broken download fails at load time, not mid-inference.
/// Tensors stay memory-mapped; nothing is read until used.
public struct WeightStore: Sendable {
    /// The directory (or file) path, for error messages.
    public let source: String
    /// The opened files, in load order.
    public let files: [SafetensorsFile]
    /// All tensor names, sorted.
    public let names: [String]
    private let location: [String: Int]  // name → index into `files`

    public static let singleFileName = "model.safetensors"
    public static let indexFileName = "model.safetensors.index.json"

    public init(directory: URL) throws(SafetensorsError) {
        let dir = directory.path
        var st = stat()
        guard stat(dir, &st) == 0 else { throw .cannotOpen(file: dir, reason: MappingError.text(errno)) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            // A single .safetensors file is a model too.
            guard (st.st_mode & S_IFMT) == S_IFREG else { throw .cannotOpen(file: dir, reason: "not a directory or a file") }
            try self.init(file: directory)
            return
        }
        let single = directory.appendingPathComponent(WeightStore.singleFileName)
        let index = directory.appendingPathComponent(WeightStore.indexFileName)
        if WeightStore.isRegularFile(single.path) {
            try self.init(file: single, source: dir)
        } else if WeightStore.isRegularFile(index.path) {
            try self.init(index: index, directory: directory)
        } else {
            try self.init(unindexedDirectory: directory)
        }
    }

    /// A single safetensors file.
    public init(file: URL) throws(SafetensorsError) {
        try self.init(file: file, source: file.path)
    }

    private init(file: URL, source: String) throws(SafetensorsError) {
        let f = try SafetensorsFile(url: file)
        self.init(source: source, files: [f], location: Dictionary(uniqueKeysWithValues: f.names.map { ($0, 0) }))
    }

    private init(index url: URL, directory: URL) throws(SafetensorsError) {
        let index = try ShardIndex.load(url)
        var namesByShard: [String: [String]] = [:]
        for (name, shard) in index.weightMap { namesByShard[shard, default: []].append(name) }

        var files: [SafetensorsFile] = []
        var location: [String: Int] = [:]
        for shard in namesByShard.keys.sorted() {
            let shardURL = directory.appendingPathComponent(shard)
            guard WeightStore.isRegularFile(shardURL.path) else { throw .missingShard(index: url.path, shard: shard) }
            let file = try SafetensorsFile(url: shardURL)
            for name in (namesByShard[shard] ?? []).sorted() {
                guard file.contains(name) else { throw .tensorNotInShard(index: url.path, tensor: name, shard: shard) }
                location[name] = files.count
            }
            files.append(file)
        }
        // Names a shard holds but the index does not map are not part of the model: left out.
        self.init(source: directory.path, files: files, location: location)
    }

    private init(unindexedDirectory directory: URL) throws(SafetensorsError) {
        let dir = directory.path
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: dir)
        } catch {
            throw .cannotOpen(file: dir, reason: error.localizedDescription)
        }
        let candidates = entries.filter { $0.hasSuffix(".safetensors") && !$0.hasPrefix(".") }.sorted()
            .filter { WeightStore.isRegularFile(directory.appendingPathComponent($0).path) }
        guard !candidates.isEmpty else { throw .noWeights(directory: dir) }

        var files: [SafetensorsFile] = []
        var location: [String: Int] = [:]
        for name in candidates {
            let file = try SafetensorsFile(url: directory.appendingPathComponent(name))
            for tensor in file.names {
                if let other = location[tensor] {
                    throw .duplicateTensor(directory: dir, tensor: tensor, files: [candidates[other], name])
                }
                location[tensor] = files.count
            }
            files.append(file)
        }
        self.init(source: dir, files: files, location: location)
    }

    private init(source: String, files: [SafetensorsFile], location: [String: Int]) {
        self.source = source
        self.files = files
        self.location = location
        names = location.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    /// The dtype and shape of `name` without touching its data.
    public func info(_ name: String) throws(SafetensorsError) -> SafetensorsFile.TensorInfo {
        guard let i = location[name] else { throw .missingTensor(file: source, tensor: name) }
        return try files[i].info(name)
    }

    /// The tensor `name` (zero-copy, memory-mapped).
    public func tensor(_ name: String) throws(SafetensorsError) -> Tensor {
        guard let i = location[name] else { throw .missingTensor(file: source, tensor: name) }
        return try files[i].tensor(name)
    }

    /// Those of `names` this store lacks, in the given order.
    public func missing(_ names: [String]) -> [String] { names.filter { location[$0] == nil } }

    /// A binder that tracks which weights a model loader takes (see `WeightBinder`).
    public func binder(mode: WeightBinder.Mode = .collect) -> WeightBinder { WeightBinder(self, mode: mode) }

    private static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }
}
