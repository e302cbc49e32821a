import Foundation
import FuzzSupport
import VidLMTensor

// The input is a whole .safetensors file: 8-byte header length, JSON header, data.
// A file that opens must hand out every tensor within its bounds, convert it to f32, and
// survive a write → re-read round trip unchanged (names, dtypes, shapes, bytes, metadata).

private let file = FuzzSupport.folder("safetensors").appendingPathComponent("model.safetensors")
private let copy = FuzzSupport.folder("safetensors").appendingPathComponent("roundtrip.safetensors")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzSupport.write(UnsafeRawBufferPointer(start: data, count: size), to: file)
    let opened: SafetensorsFile
    do { opened = try SafetensorsFile(url: file) } catch { FuzzSupport.note(error.description); return 0 }
    FuzzSupport.note("opened: \(opened.names.count) tensors")

    var tensors: [String: Tensor] = [:]
    for name in opened.names {
        guard let info = try? opened.info(name), let t = try? opened.tensor(name) else {
            fatalError("fuzz: '\(name)' is listed but cannot be read")
        }
        precondition(info.byteCount == t.byteCount && t.shape == info.shape && t.dtype == info.dtype)
        precondition(info.dataOffsets.upperBound <= opened.fileSize)
        // Touch every byte (ASan checks the copy path; the mapped path must stay inside the map).
        var checksum: UInt8 = 0
        for b in t.rawBytes { checksum &+= b }
        _ = checksum
        _ = t.floats()
        tensors[name] = t
    }
    precondition(!opened.contains("__metadata__"))

    // Write what was read and read it back.
    let bytes: [UInt8]
    do {
        bytes = try SafetensorsWriter.serialize(tensors, metadata: opened.metadata)
    } catch {
        fatalError("fuzz: a file that opened cannot be written back: \(error)")
    }
    bytes.withUnsafeBytes { FuzzSupport.write($0, to: copy) }
    let again: SafetensorsFile
    do {
        again = try SafetensorsFile(url: copy)
    } catch {
        fatalError("fuzz: a file this package wrote does not open: \(error)")
    }
    precondition(again.names == opened.names, "round trip changed the names")
    precondition(again.metadata == opened.metadata, "round trip changed the metadata")
    for name in opened.names {
        let a = try! opened.tensor(name), b = try! again.tensor(name)
        precondition(a.dtype == b.dtype && a.shape == b.shape, "round trip changed \(name)")
        precondition(a.rawBytes.elementsEqual(b.rawBytes), "round trip changed the bytes of \(name)")
    }
    return 0
}
