package topics

// DecodeForTest decodes b into v with v's hand-written decoder.
func DecodeForTest(v handDecoded, b []byte) error {
	_, err := v.decodeJSON(b)
	return err
}

// DecodeRawPayloadTokens decodes b as DecodeRawPayload's fallback does,
// for every input.
func DecodeRawPayloadTokens(b []byte) (*RawPayload, []string, error) {
	p := new(RawPayload)
	unknown, err := p.decodeTokens(b)
	return p, unknown, err
}

// RawPayloadReadByHand reports whether DecodeRawPayload reads b without
// handing it over to the token decoder.
func RawPayloadReadByHand(b []byte) bool {
	_, err := new(RawPayload).decodeByHand(b)
	return err == nil
}
