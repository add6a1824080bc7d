"""Taking the networks elsewhere: ONNX export (``onnx``) and a NumPy/ONNX Runtime stepper (``runner``)."""
