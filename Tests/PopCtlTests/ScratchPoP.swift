import ArgumentParser
import Foundation
import PopCtl
import Registry
import WireGuard

/// A throwaway PoP for running popctl's commands in-process: a config, the edge key and a
/// registry in a fresh temporary directory.
struct ScratchPoP {
    let directory: String
    var configPath: String { directory + "/popgate.toml" }

    /// `wireguard` adds lines to the `[wireguard]` table and `sections` whole tables; `sections`
    /// is given the directory, for the paths it names.
    init(
        _ label: String, address: String = "10.77.0.1/24", wireguard: String = "",
        sections: (String) -> String = { _ in "" }
    ) throws {
        directory = NSTemporaryDirectory() + "popgate-\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory + "/keys", withIntermediateDirectories: true)
        try """
            [registry]
            path = "\(directory)/registry.sqlite"
            [wireguard]
            private_key_file = "\(directory)/keys/wg-edge.key"
            address = "\(address)"
            endpoint = "198.51.100.1:51820"
            \(wireguard)
            \(sections(directory))
            [[backends]]
            name = "sim"
            url = "http://127.0.0.1:8000"
            models = ["m"]
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
        _ = try KeyFile.loadOrCreate(directory + "/keys/wg-edge.key")
    }

    /// Runs one popctl command line against this PoP.
    func popctl(_ arguments: [String]) throws {
        var command = try Popctl.parseAsRoot(arguments + ["--config", configPath])
        try command.run()
    }

    var store: RegistryStore { get throws { try RegistryStore(path: directory + "/registry.sqlite") } }
}
