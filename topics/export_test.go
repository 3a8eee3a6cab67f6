package topics

// DecodeForTest decodes b into v with v's hand-written decoder.
func DecodeForTest(v handDecoded, b []byte) error {
	_, err := v.decodeJSON(b)
	return err
}
