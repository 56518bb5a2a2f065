import PopConfig
import Registry

/// What a command works on: the validated configuration and the opened registry.
struct Context {
    let configuration: PopConfiguration
    let store: RegistryStore

    init(_ options: GlobalOptions) throws {
        configuration = try options.loadConfiguration()
        store = try RegistryStore(location: configuration.registry.location)
    }
}
