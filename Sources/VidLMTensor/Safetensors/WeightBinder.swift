/// Binds a model's parameters to the weights of a `WeightStore` and makes mismatches loud.
///
/// Model code asks for each weight with `take(_:shape:)` / `takeIfPresent(_:shape:)` (the shape
/// of `ParameterSource` in VidLMModels). The binder records every name taken, and:
/// - in `.collect` mode (the default) a missing or wrong-shaped weight is recorded and a zero
///   placeholder of the requested shape comes back (lazily mapped zero pages: free), so the whole
///   model gets built and `checkAllConsumed()` then throws one error naming every missing,
///   unexpected and wrong-shaped weight;
/// - in `.strict` mode the first problem throws.
///
/// `WeightBinder.load` does build + check in one call, so placeholders can never escape:
/// ```swift
/// let model = try WeightBinder.load(store, ignoring: { $0.hasSuffix("inv_freq") }) { try Model(weights: $0) }
/// ```
/// Not thread-safe: use one binder per loading task.
public final class WeightBinder {
    public enum Mode: Sendable { case collect, strict }

    public let store: WeightStore
    public let mode: Mode
    /// Names the model asked for that the store has (whatever their shape).
    public private(set) var consumed: Set<String> = []
    /// Names asked for that the store lacks, in request order (collect mode).
    public private(set) var missing: [String] = []
    /// Shape mismatches, in request order (collect mode).
    public private(set) var wrongShapes: [ShapeMismatch] = []

    public init(_ store: WeightStore, mode: Mode = .collect) {
        self.store = store
        self.mode = mode
    }

    /// Builds a model with a collecting binder, then checks that every weight matched and was
    /// used. If `build` throws while weights were missing or misshapen, the binding error is
    /// thrown instead: it is the likelier cause and the more useful message.
    public static func load<Model>(_ store: WeightStore, ignoring: (String) -> Bool = { _ in false },
                                   _ build: (WeightBinder) throws -> Model) throws -> Model
    {
        let binder = WeightBinder(store)
        let model: Model
        do {
            model = try build(binder)
        } catch {
            if !binder.missing.isEmpty || !binder.wrongShapes.isEmpty {
                throw SafetensorsError.bindingFailed(source: store.source, missing: binder.missing,
                                                     unexpected: [], wrongShapes: binder.wrongShapes)
            }
            throw error
        }
        try binder.checkAllConsumed(ignoring: ignoring)
        return model
    }

    /// The weight `name` with exactly `shape`. Strict mode throws `.missingTensor` / `.wrongShape`;
    /// collect mode records the problem and returns zeros of `shape`.
    public func take(_ name: String, shape: [Int]) throws(SafetensorsError) -> Tensor {
        guard store.contains(name) else {
            if mode == .strict { throw .missingTensor(file: store.source, tensor: name) }
            if !missing.contains(name) { missing.append(name) }
            return WeightBinder.placeholder(shape: shape, dtype: .f32)
        }
        let t = try store.tensor(name)
        consumed.insert(name)
        guard t.shape == shape else {
            let m = ShapeMismatch(name: name, shape: t.shape, expected: shape)
            if mode == .strict { throw .wrongShape(source: store.source, mismatch: m) }
            if !wrongShapes.contains(m) { wrongShapes.append(m) }
            return WeightBinder.placeholder(shape: shape, dtype: t.dtype)
        }
        return t
    }

    /// For optional parameters (e.g. a bias some checkpoints omit): nil when absent; a present
    /// weight must still have `shape`.
    public func takeIfPresent(_ name: String, shape: [Int]) throws(SafetensorsError) -> Tensor? {
        store.contains(name) ? try take(name, shape: shape) : nil
    }

    /// Stored weights nobody took, sorted, except those `ignoring` accepts.
    public func unconsumed(ignoring: (String) -> Bool = { _ in false }) -> [String] {
        store.names.filter { !consumed.contains($0) && !ignoring($0) }
    }

    /// Throws one `.bindingFailed` listing every missing and wrong-shaped weight seen so far and
    /// every stored weight not taken (unless ignored). Unused weights usually mean a name-mapping
    /// bug that would otherwise leave a parameter silently at a default.
    public func checkAllConsumed(ignoring: (String) -> Bool = { _ in false }) throws(SafetensorsError) {
        let unexpected = unconsumed(ignoring: ignoring)
        if missing.isEmpty, unexpected.isEmpty, wrongShapes.isEmpty { return }
        throw .bindingFailed(source: store.source, missing: missing, unexpected: unexpected, wrongShapes: wrongShapes)
    }

    /// Zeros of `shape` backed by anonymous zero pages, so even a missing embedding matrix of
    /// gigabytes costs nothing unless read.
    static func placeholder(shape: [Int], dtype: DType) -> Tensor {
        let bytes = dtype.byteCount(elements: Tensor.elementCount(shape))
        guard let region = try? MappedRegion(zeroBytes: bytes) else {
            return Tensor(shape: shape, dtype: dtype, storage: TensorStorage(byteCount: bytes))
        }
        return Tensor(shape: shape, dtype: dtype,
                      storage: TensorStorage(borrowing: region.base, byteCount: bytes, owner: region))
    }
}
