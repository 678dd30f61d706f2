using CurvNative.Interop;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Interop;

public sealed class TensorChecksTests
{
    [Fact]
    public void FiniteTensorsPass()
    {
        TensorChecks.EnsureFinite(Tensor<float>.FromArray([1, -2, float.MaxValue, float.Epsilon], 2, 2), "m.safetensors", "w");
        TensorChecks.EnsureFinite(Tensor<double>.Zeros(0, 3), "m.safetensors", "empty");
        TensorChecks.EnsureFinite(Tensor<double>.Scalar(-0.0), "a.npy", null);
    }

    [Fact]
    public void NaN_NamesFileKeyIndexAndValue()
    {
        var t = Tensor<float>.FromArray([1, 2, 3, 4, 5, float.NaN, float.PositiveInfinity], 7);
        var ex = Expect.Format(() => TensorChecks.EnsureFinite(t.Reshape(7), "model.safetensors", "layer.1.weight"),
            "model.safetensors", "layer.1.weight", "element [5]", "flat index 5", "NaN", "2 of 7 elements");
        Assert.Equal("layer.1.weight", ex.Key);
    }

    [Fact]
    public void Infinity_ReportsMultiIndex()
    {
        var data = new double[2 * 3 * 4];
        data[1 * 12 + 2 * 4 + 3] = double.NegativeInfinity;
        Expect.Format(() => TensorChecks.EnsureFinite(Tensor<double>.FromArray(data, 2, 3, 4), "w.npy", null),
            "w.npy", null, "element [1, 2, 3]", "flat index 23", "-Infinity", "shape [2, 3, 4]", "1 of 24");
        Expect.Format(() => TensorChecks.EnsureFinite(Tensor<double>.Scalar(double.PositiveInfinity), "s.npy", "x"),
            "s.npy", "x", "element []", "+Infinity");
    }

    [Fact]
    public void LoadedWeightsWithNaN_AreRejectedByTheCheck()
    {
        var bytes = new SafetensorsWriter().Add("w", Tensor<float>.FromArray([0.5f, float.NaN], 1, 2)).ToArray();
        var file = SafetensorsFile.Read(new MemoryStream(bytes), "nan.safetensors");
        var w = file.GetTensor<float>("w");
        Expect.Format(() => TensorChecks.EnsureFinite(w, file.Source, "w"), "nan.safetensors", "w", "element [0, 1]", "NaN");

        // f8 values beyond float range become infinities when narrowed: the check catches that too
        var ms = new MemoryStream();
        Npy.Write(ms, Tensor<double>.FromArray([1e300], 1));
        ms.Position = 0;
        var narrowed = Npy.Read<float>(ms, "big.npy");
        Expect.Format(() => TensorChecks.EnsureFinite(narrowed, "big.npy", null), "big.npy", null, "+Infinity");
    }
}
