using System.Numerics;
using CurvNative.NN.Modules;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Curvature;

/// <summary>
/// The accumulator's Gram paths (native unfold + SYRK, patch sums, per-sample SYRK of conv gradients, the ones
/// coordinate as row sums and count) against float64 Gram matrices of the materialised weight-sharing rows
/// (<see cref="KfacLayer{T}.InputRows"/> / <see cref="KfacLayer{T}.GradientRows"/>): expand and reduce, joint and
/// separate, a strided and padded convolution and a Linear layer with an extra position axis, batch sizes 1 and 5,
/// one and several batches, float and double.
/// </summary>
public class KfacFactorAccumulatorTests
{
    public static TheoryData<string, KfacApproximation, bool, int> Cases()
    {
        var d = new TheoryData<string, KfacApproximation, bool, int>();
        foreach (var layer in new[] { "conv", "conv-1x1-out", "linear-seq", "linear" })
            foreach (var approx in new[] { KfacApproximation.Expand, KfacApproximation.Reduce })
                foreach (bool joint in new[] { false, true })
                    foreach (int n in new[] { 1, 5 })
                        d.Add(layer, approx, joint, n);
        return d;
    }

    [Theory, MemberData(nameof(Cases))]
    public void Float64FactorsEqualTheGramOfTheMaterialisedRows(string layer, KfacApproximation approx, bool joint, int n)
        => Check<double>(layer, approx, joint, n, 1e-12);

    [Theory, MemberData(nameof(Cases))]
    public void Float32FactorsEqualTheGramOfTheMaterialisedRows(string layer, KfacApproximation approx, bool joint, int n)
        => Check<float>(layer, approx, joint, n, 2e-5);

    private static (Module<T> Module, int[] In, int[] Out) Layer<T>(string name, int n) where T : unmanaged, IFloatingPointIeee754<T>
        => name switch
        {
            "conv" => (new Conv2d<T>("0", 3, 4, 3, stride: 2, padding: 1, rng: new Random(1)), [n, 3, 7, 6], [n, 4, 4, 3]),
            "conv-1x1-out" => (new Conv2d<T>("0", 2, 3, 3, rng: new Random(1)), [n, 2, 3, 3], [n, 3, 1, 1]),
            "linear-seq" => (new Linear<T>("0", 5, 3, rng: new Random(1)), [n, 4, 5], [n, 4, 3]),
            "linear" => (new Linear<T>("0", 6, 2, rng: new Random(1)), [n, 6], [n, 2]),
            _ => throw new ArgumentException(name),
        };

    private static Tensor<T> RandomTensor<T>(Random rng, int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Zeros(shape);
        for (int i = 0; i < t.Length; i++) t.Span[i] = T.CreateTruncating(rng.NextDouble() * 2 - 1);
        return t;
    }

    private static void Check<T>(string name, KfacApproximation approx, bool joint, int n, double tol) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (module, inShape, outShape) = Layer<T>(name, n);
        var layers = KfacOperator<T>.Layers(module, module.Parameters().ToList(), separate: !joint);
        var layer = Assert.Single(layers);
        Assert.Equal(joint, layer.Joint);
        var rng = new Random(n * 7 + (joint ? 1 : 0) + (int)approx * 3);
        // Two batches, and the gradients at two scales: accumulation after the first batch must add, not overwrite.
        var inputs = new[] { RandomTensor<T>(rng, inShape), RandomTensor<T>(rng, inShape) };
        var grads = new[] { RandomTensor<T>(rng, outShape), RandomTensor<T>(rng, outShape) };
        var scales = new[] { T.CreateTruncating(0.5), T.CreateTruncating(2.0) };

        for (int batches = 1; batches <= 2; batches++)
        {
            var acc = new KfacFactorAccumulator<T>(layers, approx);
            int m = layer.FactorInDim, o = layer.OutDim;
            var aRef = new double[m * m];
            var gRef = new double[o * o];
            long samples = 0; int shared = 0;
            for (int b = 0; b < batches; b++)
            {
                acc.AddInput(layer, inputs[b]);
                acc.AddOutputGradient(layer, grads[b], scales[b]);
                var (rows, s) = layer.InputRows(inputs[b], approx);
                shared = s;
                samples += inputs[b].Shape[0];
                AddGram(rows, 1.0, aRef);
                AddGram(layer.GradientRows(grads[b], approx), double.CreateTruncating(scales[b]), gRef);
            }
            for (int i = 0; i < aRef.Length; i++) aRef[i] /= samples * Math.Max(1, shared);

            var (a, g) = acc.Factors(layer);
            AssertClose(aRef, a, tol, $"A ({name}, {approx}, joint={joint}, n={n}, batches={batches})");
            AssertClose(gRef, g, tol, $"G ({name}, {approx}, joint={joint}, n={n}, batches={batches})");
            // Reading copies does not disturb the state; taking the buffers gives the same factors.
            var (a2, g2) = acc.TakeFactors(layer);
            Assert.True(a.Span.SequenceEqual(a2.Span), "TakeFactors A differs from Factors A");
            Assert.True(g.Span.SequenceEqual(g2.Span), "TakeFactors G differs from Factors G");
            Assert.Throws<InvalidOperationException>(() => acc.AddInput(layer, inputs[0]));
        }
    }

    /// <summary>Symmetrisation at awkward orders (the float32 path moves 8 x 8 blocks in AVX registers, with
    /// scalar diagonal blocks and edges; 32 x 32 tiles otherwise): exactly symmetric, and equal to the Gram.</summary>
    [Theory]
    [InlineData(1)] [InlineData(7)] [InlineData(8)] [InlineData(17)] [InlineData(33)] [InlineData(1025)]
    public void LargeFactorsAreExactlySymmetricInBothPrecisions(int d)
    {
        CheckSymmetric<float>(d, 2e-5);
        CheckSymmetric<double>(d, 1e-12);
    }

    private static void CheckSymmetric<T>(int d, double tol) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var linear = new Linear<T>("0", d, 2, rng: new Random(d));
        var layer = Assert.Single(KfacOperator<T>.Layers(linear, linear.Parameters().ToList(), separate: true));
        var x = RandomTensor<T>(new Random(d + 1), [6, d]);
        var reference = new double[d * d];
        AddGram(x, 1.0 / 6, reference);
        foreach (bool take in new[] { false, true })
        {
            var acc = new KfacFactorAccumulator<T>([layer], KfacApproximation.Expand);
            acc.AddInput(layer, x);
            var a = take ? acc.TakeFactors(layer).A : acc.Factors(layer).A;
            AssertClose(reference, a, tol, $"A [{d}, {d}] ({typeof(T).Name}, take = {take})");
            for (int i = 0; i < d; i++)
                for (int j = i + 1; j < d; j++)
                    if (a.Span[i * d + j] != a.Span[j * d + i]) Assert.Fail($"A [{d}, {d}] ({typeof(T).Name}) is not symmetric at ({i}, {j}).");
        }
    }

    private static void AddGram<T>(Tensor<T> rows, double scale, double[] c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = rows.Shape[0], d = rows.Shape[1];
        for (int k = 0; k < r; k++)
            for (int i = 0; i < d; i++)
            {
                double u = double.CreateTruncating(rows.Span[k * d + i]);
                for (int j = 0; j < d; j++) c[i * d + j] += scale * u * double.CreateTruncating(rows.Span[k * d + j]);
            }
    }

    private static void AssertClose<T>(double[] expected, Tensor<T> actual, double tol, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(1e-300, expected.Max(Math.Abs));
        for (int i = 0; i < expected.Length; i++)
        {
            double v = double.CreateTruncating(actual.Span[i]);
            if (!(Math.Abs(v - expected[i]) <= tol * scale))
                Assert.Fail($"{what}: element {i} is {v:R}, reference {expected[i]:R} (tolerance {tol:E0} * {scale:E3}).");
        }
    }

    [Fact]
    public void ForwardOnlyAndMissingGradientsGiveIdentityAndZeroG()
    {
        var module = new Conv2d<double>("0", 2, 3, 3, padding: 1, rng: new Random(1));
        var layers = KfacOperator<double>.Layers(module, module.Parameters().ToList(), separate: false);
        var acc = new KfacFactorAccumulator<double>(layers, KfacApproximation.Expand);
        acc.AddInput(layers[0], RandomTensor<double>(new Random(2), [2, 2, 4, 4]));
        var (_, g) = acc.Factors(layers[0]);
        Assert.All(g.ToArray(), v => Assert.Equal(0.0, v));
        Assert.Throws<InvalidOperationException>(() => new KfacFactorAccumulator<double>(layers, KfacApproximation.Expand).Factors(layers[0]));
    }
}
