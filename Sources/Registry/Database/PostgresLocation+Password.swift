import Foundation
import RegistryLocations

extension PostgresLocation {
    /// The password from `passwordFile`, or nil when there is none.
    func password() throws(RegistryError) -> String? {
        guard let passwordFile else { return nil }
        do {
            let text = try String(contentsOfFile: passwordFile, encoding: .utf8)
            return String(text.trimmingCharacters(in: .newlines))
        } catch {
            throw RegistryError(
                .storage,
                "cannot read the registry password file \(passwordFile): \(error.localizedDescription); "
                    + "check that it exists and that this user may read it"
            )
        }
    }
}
