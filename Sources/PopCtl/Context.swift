import PopConfig
import Registry

/// What a command works on: the validated configuration and the opened registry.
struct Context {
    let configuration: PopConfiguration
    let store: RegistryStore

    init(_ options: GlobalOptions) throws {
        configuration = try PopConfiguration.load(path: PopConfiguration.resolvePath(explicit: options.config))
        store = try RegistryStore(path: configuration.registry.path)
    }
}
