import LoomClient
import LoomWire
import Testing

/// Finding the feed from the broker's endpoint and its WELCOME.
@Suite struct FeedEndpointsTests {
    @Test func aWildcardAnnouncementPointsAtTheBrokersHost() {
        #expect(FeedEndpoints.resolve("tcp://0.0.0.0:5556", broker: "tcp://gpu-1:5555") == "tcp://gpu-1:5556")
        #expect(FeedEndpoints.resolve("tcp://*:5557", broker: "tcp://10.0.0.9:6000") == "tcp://10.0.0.9:5557")
        #expect(FeedEndpoints.resolve("tcp://10.0.0.2:5556", broker: "tcp://gpu-1:5555") == "tcp://10.0.0.2:5556")
        let welcome = WelcomeInfo(broker: "b", heartbeatMs: 1000, liveness: 3, feed: "tcp://0.0.0.0:7001", replay: "tcp://0.0.0.0:7002")
        let announced = FeedEndpoints.announced(by: welcome, broker: "tcp://h:7000")
        #expect(announced?.feed == "tcp://h:7001" && announced?.replay == "tcp://h:7002")
        #expect(FeedEndpoints.announced(by: WelcomeInfo(broker: "b", heartbeatMs: 1000, liveness: 3), broker: "tcp://h:7000") == nil)
    }

    @Test func aBrokerThatAnnouncesNothingHasTheDefaultsLayout() {
        #expect(FeedEndpoints.derived(fromBroker: "tcp://h:5555")?.feed == "tcp://h:5556")
        #expect(FeedEndpoints.derived(fromBroker: "tcp://h:5555")?.replay == "tcp://h:5557")
        #expect(FeedEndpoints.derived(fromBroker: "inproc://x") == nil)
    }
}
