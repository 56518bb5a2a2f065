#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Parses a response body the way a client library would.
func decodeJSON<T: Decodable>(_ type: T.Type, _ text: some StringProtocol) throws -> T {
    try JSONDecoder().decode(type, from: Data(text.utf8))
}
