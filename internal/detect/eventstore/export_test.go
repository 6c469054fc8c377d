package eventstore

// MessagesTotal exposes the messages counter to the external tests.
var MessagesTotal = messagesTotal
