import ArgumentParser
import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// JSON the way every vidlm command prints it: snake_case keys, sorted, pretty.
func jsonEncoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return encoder
}

func printJSON<T: Encodable>(_ value: T) throws {
    let data = try jsonEncoder().encode(value)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// Runs a command body; a known error becomes one sentence on stderr and exit status 1.
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as MediaError {
        throw CLIError(message: error.description)
    } catch let error as ConfigError {
        throw CLIError(message: error.description)
    } catch let error as SafetensorsError {
        throw CLIError(message: error.description)
    } catch let error as VisionError {
        throw CLIError(message: error.description)
    } catch let error as PreprocessError {
        throw CLIError(message: error.description)
    } catch let error as CLIError {
        throw error
    } catch is CancellationError {
        throw CLIError(message: "Cancelled.")
    } catch let error as ValidationError {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch let error as DecodingError {
        throw CLIError(message: ConfigError.describe(error))
    } catch let error as CustomStringConvertible {
        // Every vidlm error type (EngineError, TokenizerError, LanguageModelError, GenerationError,
        // BridgeError, MergerError, ...) describes itself in one sentence.
        throw CLIError(message: error.description)
    } catch {
        throw CLIError(message: "\(error)")
    }
}

/// An error already phrased for the user.
struct CLIError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
