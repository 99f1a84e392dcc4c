#!/usr/bin/python3
"""A second, independent .tflite reader for the tests: Arm NN (Debian's
python3-pyarmnn, its TfLiteParser and its CpuRef reference backend) reads a
.tflite that reef wrote and runs it.

usage: second_reader.py MODEL.tflite INPUTS.bin
INPUTS.bin holds N raw int8 input tensors back to back. Prints, as Arm NN
read them, for the input and the output one line
    input|output SCALE ZERO_POINT RANK D0 .. Dn NAME
then one line "out V0 V1 ..." per input: its int8 output."""
import sys

import numpy as np

import pyarmnn as ann


def describe(role, name, binding):
    t = binding[1]
    shape = t.GetShape()
    dims = [str(shape[i]) for i in range(shape.GetNumDimensions())]
    print(role, repr(t.GetQuantizationScale()), t.GetQuantizationOffset(), len(dims), " ".join(dims), name)


def main():
    model, inputs = sys.argv[1], sys.argv[2]
    parser = ann.ITfLiteParser()
    net = parser.CreateNetworkFromBinaryFile(model)
    in_name = parser.GetSubgraphInputTensorNames(0)[0]
    out_name = parser.GetSubgraphOutputTensorNames(0)[0]
    ib = parser.GetNetworkInputBindingInfo(0, in_name)
    ob = parser.GetNetworkOutputBindingInfo(0, out_name)
    runtime = ann.IRuntime(ann.CreationOptions())
    opt, _ = ann.Optimize(net, [ann.BackendId("CpuRef")], runtime.GetDeviceSpec(), ann.OptimizerOptions())
    net_id, _ = runtime.LoadNetwork(opt)
    x = np.fromfile(inputs, dtype=np.int8).reshape(-1, ib[1].GetNumElements())
    describe("input", in_name, ib)
    describe("output", out_name, ob)
    for row in x:
        ins = ann.make_input_tensors([ib], [row])
        outs = ann.make_output_tensors([ob])
        runtime.EnqueueWorkload(net_id, ins, outs)
        print("out", " ".join(str(int(v)) for v in ann.workload_tensors_to_ndarray(outs)[0].ravel()))


if __name__ == "__main__":
    main()
