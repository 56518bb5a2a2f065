import Gateway
import Testing

/// llama.cpp's pressure: busy slots over the slot count its `/props` reports.
struct BusySlotsTests {
    /// A slice of a real llama-server's `/props` (two slots).
    static let props = #"{"default_generation_settings":{"n_ctx":16384},"total_slots":2,"model_alias":"tiny"}"#

    @Test func theShareOfBusySlots() {
        #expect(BusySlots.share(processing: 0, props: Self.props) == 0)
        #expect(BusySlots.share(processing: 1, props: Self.props) == 0.5)
        #expect(BusySlots.share(processing: 2, props: Self.props) == 1)
    }

    /// More processing than slots (the gauge and the slot count read a moment apart) is still full, not more.
    @Test func neverMoreThanFull() {
        #expect(BusySlots.share(processing: 5, props: Self.props) == 1)
    }

    /// Without a slot count or a processing gauge the share is unknown, not 0: the board keeps the last one.
    @Test func unknownWithoutEitherFigure() {
        #expect(BusySlots.share(processing: nil, props: Self.props) == nil)
        #expect(BusySlots.share(processing: 1, props: nil) == nil)
        #expect(BusySlots.share(processing: 1, props: #"{"total_slots":0}"#) == nil)
        #expect(BusySlots.share(processing: 1, props: #"{"total_slots":"2"}"#) == nil)
        #expect(BusySlots.share(processing: 1, props: "not json") == nil)
    }
}
