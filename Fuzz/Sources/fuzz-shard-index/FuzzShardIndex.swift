import Foundation
import FuzzSupport
import VidLMTensor

// The input is model.safetensors.index.json of a directory that also holds the two committed
// shards (Tests/Fixtures/safetensors/sharded). Loading must fail with a SafetensorsError or give a
// store whose every name reads from its shard.

private let directory: URL = {
    let dir = FuzzSupport.folder("sharded")
    for shard in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
        FuzzSupport.copy(FuzzSupport.fixture("safetensors/sharded/\(shard)"), to: dir.appendingPathComponent(shard))
    }
    return dir
}()
private let index = directory.appendingPathComponent(WeightStore.indexFileName)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzShardIndex(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzSupport.write(UnsafeRawBufferPointer(start: data, count: size), to: index)
    let store: WeightStore
    do { store = try WeightStore(directory: directory) } catch { FuzzSupport.note(error.description); return 0 }
    FuzzSupport.note("store: \(store.names.count) tensors")
    for name in store.names {
        guard let info = try? store.info(name), let t = try? store.tensor(name) else {
            fatalError("fuzz: '\(name)' is listed but cannot be read")
        }
        precondition(t.shape == info.shape && t.dtype == info.dtype)
        _ = t.floats()
    }
    let missing = store.missing(["counts", "no such tensor"])
    precondition(missing.contains("no such tensor"))
    return 0
}
