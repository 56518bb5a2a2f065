// popgate-inference-sim: argument parsing and wiring only; the server is InferenceSim.
import ArgumentParser
import Dispatch
import InferenceSim
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// The command line of the simulated inference worker.
struct InferenceSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "popgate-inference-sim",
        abstract: "A stand-in GPU inference worker: an OpenAI-compatible server with deterministic output.",
        discussion: """
            Answers /v1/chat/completions, /v1/completions, /v1/responses and /v1/embeddings with deterministic \
            text at a set token rate, and serves /metrics and /health as vLLM does, or with --engine llamacpp \
            as llama.cpp's llama-server does (with /props too). For tests and demos only. \
            With --echo-prompt the text is the client's own words, so a test can trace them end to end.
            """
    )

    @Option(help: ArgumentHelp("The address to listen on.", valueName: "address:port"))
    var listen: String

    @Option(help: ArgumentHelp("The models served, comma-separated (the first names the metrics).", valueName: "a,b"))
    var models: String

    // `.unconditional` lets a negative number through as a value, so it meets the range check below
    // instead of being taken for a flag.
    @Option(parsing: .unconditional, help: "Simulated generation rate; 0 answers at once.")
    var tokensPerSecond: Double = SimulatorOptions.defaultTokensPerSecond

    @Option(help: ArgumentHelp(
        "The inference server imitated in everything a gateway reads: metrics, listings, errors, usage.",
        valueName: "vllm|llamacpp"
    ))
    var engine = InferenceEngine.vllm.rawValue

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "In-flight requests reported as running (llamacpp: the slot count, llama-server's --parallel); "
                + "the rest are reported as waiting (deferred)."
        )
    )
    var maxRunning: Int = SimulatorOptions.defaultMaxRunning

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Report this fixed vllm:num_requests_waiting (llamacpp: llamacpp:requests_deferred) "
                + "instead of the measured value."
        )
    )
    var reportQueueDepth: Int?

    @Option(
        parsing: .unconditional,
        help: "llamacpp only: report this fixed llamacpp:requests_processing instead of the measured value."
    )
    var reportBusySlots: Int?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "llamacpp only: answer every request with llama-server's 503 \"Loading model\" for this many "
                + "seconds after the listener opens."
        )
    )
    var loadingSeconds: Double = 0

    @Option(
        name: .customLong("report-kv-usage"), parsing: .unconditional,
        help: "vllm only: report this fixed vllm:kv_cache_usage_perc (0...1)."
    )
    var reportKVUsage: Double?

    @Option(help: ArgumentHelp(
        "vLLM's scheduling policy: with fcfs (vLLM's default) a request's priority is accepted and ignored.",
        valueName: "fcfs|priority"
    ))
    var schedulingPolicy = "fcfs"

    @Flag(help: ArgumentHelp(
        "Completions repeat the words of the last user message, prompt or input (cycled to the token count) "
            + "instead of the fixed text: for tests that follow their own text through the gateway."
    ))
    var echoPrompt = false

    @Option(help: "The least severe log level written to stderr.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        _ = try makeOptions()
    }

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "popgate-inference-sim")
        let server = try await SimulatorServer.bind(options: try makeOptions(), logger: logger)
        let models = server.options.models.joined(separator: ", ")
        printToStandardError("popgate-inference-sim listening on \(server.boundAddress) (models: \(models))")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            group.addTask { await waitForTerminationSignal() }
            // Whichever ends first (a signal, or the server failing) ends the other.
            try await group.next()
            group.cancelAll()
        }
        logger.info("stopped")
    }

    private func makeOptions() throws -> SimulatorOptions {
        guard ["fcfs", "priority"].contains(schedulingPolicy) else {
            throw ValidationError("--scheduling-policy is fcfs or priority, not \(schedulingPolicy)")
        }
        guard let engine = InferenceEngine(rawValue: engine) else {
            throw ValidationError("--engine is vllm or llamacpp, not \(engine)")
        }
        // Checked here rather than by Duration, which would trap on a value it cannot hold.
        guard loadingSeconds.isFinite, (0...86_400).contains(loadingSeconds) else {
            throw ValidationError("--loading-seconds is a number of seconds from 0 to 86400, not \(loadingSeconds)")
        }
        do {
            return try SimulatorOptions(
                listen: ListenAddress(parsing: listen), models: SimulatorOptions.parseModels(models),
                tokensPerSecond: tokensPerSecond, maxRunning: maxRunning, reportQueueDepth: reportQueueDepth,
                reportKVUsage: reportKVUsage, priorityScheduling: schedulingPolicy == "priority",
                echoPrompt: echoPrompt, engine: engine, loadingTime: .seconds(loadingSeconds),
                reportBusySlots: reportBusySlots
            )
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// Returns on the first SIGINT or SIGTERM (or when the calling task is cancelled).
private func waitForTerminationSignal() async {
    let signals = [SIGINT, SIGTERM]
    let (received, continuation) = AsyncStream.makeStream(of: Int32.self)
    let queue = DispatchQueue(label: "popgate-inference-sim.signals")
    let sources = signals.map { number in
        // The default action would kill the process before the server could close its sockets.
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
        source.setEventHandler { continuation.yield(number) }
        source.resume()
        return source
    }
    for await _ in received { break }
    for source in sources { source.cancel() }
}

/// One unbuffered write to fd 2, so the line is out before anything else happens.
private func printToStandardError(_ line: String) {
    var line = line + "\n"
    line.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
}

/// Parses by hand rather than through `main()` so that usage errors exit 2, the usual code for a
/// bad command line, where ArgumentParser would use EX_USAGE (64).
private func runCommandLine() async {
    do {
        let command = try InferenceSimCommand.parse()
        try await command.run()
    } catch {
        if InferenceSimCommand.exitCode(for: error) == .validationFailure {
            printToStandardError(InferenceSimCommand.fullMessage(for: error))
            exit(2)
        }
        InferenceSimCommand.exit(withError: error)
    }
}

await runCommandLine()
