import Testing
@testable import LoomWorker

/// Placing GPU shares on a worker's devices: whole devices, packed fractions, fragmentation.
struct GPUAllocatorBehaviour {
    let hint = GPUAllocator.fragmentationHint

    @Test func wholeSharesTakeEntirelyFreeDevicesInOrder() {
        var gpus = GPUAllocator(devices: ["0", "1", "2"])
        #expect(gpus.allocate(lease: 1, share: 1) == ["0"])
        #expect(gpus.allocate(lease: 2, share: 2) == ["1", "2"])
        #expect(gpus.allocate(lease: 3, share: 1) == nil)
        #expect(gpus.free == [0, 0, 0])
        #expect(gpus.leases == [1, 2])
    }

    @Test func twoHalvesShareOneDeviceAndAThirdGoesToTheNext() {
        var gpus = GPUAllocator(devices: ["0", "1"])
        #expect(gpus.allocate(lease: 1, share: 0.5) == ["0"])
        #expect(gpus.allocate(lease: 2, share: 0.5) == ["0"])
        #expect(gpus.allocate(lease: 3, share: 0.5) == ["1"])
        #expect(gpus.free == [0, 500])
    }

    @Test func aFractionGoesToTheFullestDeviceThatHoldsIt() {
        var gpus = GPUAllocator(devices: ["0", "1", "2"])
        #expect(gpus.allocate(lease: 1, share: 0.5) == ["0"])
        #expect(gpus.allocate(lease: 2, share: 0.75) == ["1"])
        #expect(gpus.allocate(lease: 3, share: 0.25) == ["1"], "device 1 has 0.25 free, the least that fits")
        #expect(gpus.allocate(lease: 4, share: 0.4) == ["0"])
        #expect(gpus.free == [100, 0, 1000])
    }

    @Test func aWholeShareSkipsPartlyUsedDevices() {
        var gpus = GPUAllocator(devices: ["0", "1"])
        #expect(gpus.allocate(lease: 1, share: 0.25) == ["0"])
        #expect(gpus.allocate(lease: 2, share: 1) == ["1"])
    }

    @Test func aShareAboveOneThatIsNotWholeTakesTheCeiling() {
        var gpus = GPUAllocator(devices: ["0", "1", "2"])
        #expect(gpus.allocate(lease: 1, share: 1.5) == ["0", "1"])
        #expect(gpus.free == [0, 0, 1000])
        #expect(gpus.allocate(lease: 2, share: 1.5) == nil)
        #expect(gpus.placementFailure(share: 1.5)
            == "cannot place gpu 1.5: it needs 2 entirely free devices; free per device 0, 0, 1 (devices 0, 1, 2); \(hint)")
    }

    @Test func aShareThatFitsTheTotalButNoDeviceCannotBePlaced() {
        var gpus = GPUAllocator(devices: ["0", "1"])
        #expect(gpus.allocate(lease: 1, share: 0.6) == ["0"])
        #expect(gpus.allocate(lease: 2, share: 0.6) == ["1"])
        let before = gpus
        #expect(gpus.allocate(lease: 3, share: 0.6) == nil)
        #expect(gpus == before, "a failed placement changes nothing")
        #expect(gpus.placementFailure(share: 0.6) == "cannot place gpu 0.6: free per device 0.4, 0.4 (devices 0, 1); \(hint)")
        #expect(hint.contains("aggregate") && hint.contains("1/k"))
    }

    @Test func halvesLeftOnTwoDevicesBlockAWholeShare() {
        var gpus = GPUAllocator(devices: ["0", "1"])
        _ = gpus.allocate(lease: 1, share: 0.5)
        _ = gpus.allocate(lease: 2, share: 0.5)
        _ = gpus.allocate(lease: 3, share: 0.5)
        gpus.release(lease: 1)
        #expect(gpus.free == [500, 500])
        #expect(gpus.allocate(lease: 4, share: 1) == nil)
        #expect(gpus.placementFailure(share: 1)
            == "cannot place gpu 1: it needs 1 entirely free device; free per device 0.5, 0.5 (devices 0, 1); \(hint)")
    }

    @Test func releaseGivesTheDevicesBack() {
        var gpus = GPUAllocator(devices: ["0", "1"])
        _ = gpus.allocate(lease: 1, share: 2)
        #expect(gpus.devices(heldBy: 1) == ["0", "1"])
        gpus.release(lease: 1)
        #expect(gpus.free == [1000, 1000] && gpus.leases.isEmpty && gpus.devices(heldBy: 1) == nil)
        gpus.release(lease: 1)
        gpus.release(lease: 99)
        #expect(gpus == GPUAllocator(devices: ["0", "1"]), "releasing what is not held changes nothing")
        #expect(gpus.allocate(lease: 2, share: 0.5) == ["0"])
    }

    @Test func allocatingAgainForALeaseReturnsWhatItHolds() {
        var gpus = GPUAllocator(devices: ["0", "1"])
        #expect(gpus.allocate(lease: 7, share: 0.5) == ["0"])
        #expect(gpus.allocate(lease: 7, share: 0.5) == ["0"])
        #expect(gpus.free == [500, 1000])
    }

    @Test func sharesAreCountedInThousandthsAsTheBrokerCountsThem() {
        var gpus = GPUAllocator(devices: ["0"])
        #expect(gpus.allocate(lease: 1, share: 0.0004) == ["0"], "a positive share takes at least one thousandth")
        #expect(gpus.free == [999])
        #expect(gpus.allocate(lease: 2, share: 0.9996) == nil, "0.9996 is 1000 thousandths: a whole device")
        #expect(gpus.allocate(lease: 3, share: 0.9994) == ["0"], "0.9994 is 999 thousandths: what is left")
        #expect(gpus.free == [0])
        #expect(GPUAllocator.thousandths(1.0004, devices: 1) == 1000)
    }

    @Test func sharesThatAreNotPositiveOrExceedTheWorkerArePlacedNowhere() {
        var gpus = GPUAllocator(devices: ["0", "1"])
        for share in [0, -0.5, .nan, .infinity, 2.5, 1e300] {
            #expect(gpus.allocate(lease: 1, share: share) == nil)
        }
        #expect(gpus.leases.isEmpty)
        #expect(gpus.placementFailure(share: -0.5) == "invalid gpu share -0.5: expected a positive number of devices")
        #expect(gpus.placementFailure(share: 3) == "cannot place gpu 3: this worker has 2 GPUs")
    }

    @Test func aWorkerWithoutGPUsSaysSo() {
        var gpus = GPUAllocator(devices: [])
        #expect(gpus.allocate(lease: 1, share: 0.5) == nil)
        #expect(gpus.placementFailure(share: 0.5)
            == "this worker offers no GPU, but the job asks for gpu 0.5 (the broker should not have assigned it here)")
    }
}
