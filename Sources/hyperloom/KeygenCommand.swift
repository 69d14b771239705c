import ArgumentParser
import LoomSecurity

/// `hyperloom keygen NAME`: a CURVE key pair for the broker or a peer.
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub (public).",
        discussion: """
            The broker and every peer have a key pair. The secret key (NAME.key) stays on \
            the machine that uses it; only the public key (NAME.pub) is copied around.

            The broker reads a keys directory KEYS:
              KEYS/broker.key            the broker's own secret key
              KEYS/workers/NAME.pub      workers: the broker's ROUTER
              KEYS/clients/NAME.pub      clients (submit, status, ping): ROUTER and feed
              KEYS/optimizers/NAME.pub   optimizers: ROUTER and feed
              KEYS/subscribers/NAME.pub  feed readers: the feed only
              KEYS/viewers/NAME.pub      dashboards: read-only, ROUTER and feed

            A peer's role is the directory its .pub file is in, and its name is the file \
            name: the broker logs it as ROLE/NAME. Every peer also needs broker.pub, to \
            check that it talks to the right broker.

            For example, on the broker host: hyperloom keygen broker --out KEYS. On a \
            worker host: hyperloom keygen gpu-01, then copy gpu-01.pub to KEYS/workers/ on \
            the broker host and broker.pub to the worker host.

            A secret key file that group or others can read is refused: keep it at mode 0600.
            """)

    @Argument(help: "The key's name: NAME.key and NAME.pub (letters, digits, '-', '_', '.').")
    var name: String

    @Option(name: .customLong("out"), help: ArgumentHelp("The directory to write into (made with mode 0700 if missing).", valueName: "dir"))
    var directory = "."

    func validate() throws {
        guard KeyFiles.isValidName(name) else {
            throw ValidationError("'\(name)' is not a usable key name: use letters, digits, '-', '_' or '.', not starting with '.'")
        }
    }

    func run() throws {
        do {
            let (secretPath, publicPath) = try KeyFiles.writeKeyPair(name: name, directory: directory)
            let publicKey = try KeyFiles.readPublicKey(publicPath)
            Console.line("secret key: \(secretPath) (mode 0600: keep it on this machine)")
            Console.line("public key: \(publicPath)")
            Console.line(publicKey)
        } catch {
            Console.error("hyperloom keygen: \(error)")
            throw ExitCode.failure
        }
    }
}
