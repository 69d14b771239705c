import Foundation
import LoomWire

/// Where a broker's feed is, for a client that knows only the broker's endpoint: the broker
/// announces its feed endpoints in WELCOME (`WelcomeInfo.feed`, `.replay`).
public enum FeedEndpoints {
    /// Hosts a broker binds to that a client cannot connect to: they mean "the broker's host".
    static let wildcardHosts: Set<String> = ["*", "0.0.0.0", "[::]", "::"]

    /// `announced` with a wildcard host replaced by the host of `broker`
    /// (`tcp://0.0.0.0:5556` announced by `tcp://gpu-1:5555` → `tcp://gpu-1:5556`).
    public static func resolve(_ announced: String, broker: String) -> String {
        guard let (scheme, host, port) = split(announced), wildcardHosts.contains(host),
              let (_, brokerHost, _) = split(broker) else { return announced }
        return "\(scheme)://\(brokerHost):\(port)"
    }

    /// The layout of the defaults (feed on the broker's port + 1, replay on + 2) for a broker
    /// that announces nothing; nil when `broker` has no numeric port.
    public static func derived(fromBroker broker: String) -> (feed: String, replay: String)? {
        guard let (scheme, host, port) = split(broker), let number = Int(port) else { return nil }
        return ("\(scheme)://\(host):\(number + 1)", "\(scheme)://\(host):\(number + 2)")
    }

    /// The feed endpoints of a WELCOME, wildcard hosts resolved against `broker`.
    public static func announced(by welcome: WelcomeInfo, broker: String) -> (feed: String, replay: String?)? {
        guard let feed = welcome.feed else { return nil }
        return (resolve(feed, broker: broker), welcome.replay.map { resolve($0, broker: broker) })
    }

    /// `tcp://host:port` → (`tcp`, `host`, `port`).
    static func split(_ endpoint: String) -> (scheme: String, host: String, port: String)? {
        guard let schemeEnd = endpoint.range(of: "://"), let colon = endpoint.lastIndex(of: ":"),
              colon > schemeEnd.upperBound else { return nil }
        return (String(endpoint[..<schemeEnd.lowerBound]), String(endpoint[schemeEnd.upperBound..<colon]),
                String(endpoint[endpoint.index(after: colon)...]))
    }
}
