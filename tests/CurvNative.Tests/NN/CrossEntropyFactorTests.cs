using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.NN;

/// <summary>The cross-entropy Hessian factor has C - 1 columns (the Hessian's rank) and R R^T = diag(p) - p p^T,
/// also where the Householder vector is least favourable: uniform and near one-hot probabilities, ties for the most
/// probable class, and C = 1 and 2.</summary>
public class CrossEntropyFactorTests
{
    public static TheoryData<double[]> Logits => new()
    {
        new double[] { 0.3, -1.2, 2.0, 0.0, 0.7 },
        new double[] { 0, 0, 0, 0 },                 // uniform
        new double[] { 40, 0, -3, 1 },               // p nearly one-hot
        new double[] { -50, 7, 7, -2 },              // a tie for the largest p, one tiny p
        new double[] { 1.5, -0.5 },
        new double[] { 3.0 },                        // one class: zero Hessian, no columns
    };

    private static void Check<T>(double[] logits, double tolerance) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int c = logits.Length;
        var f = Tensor<T>.Zeros(2, c);
        for (int j = 0; j < c; j++) { f.Span[j] = T.CreateTruncating(logits[j]); f.Span[c + j] = T.CreateTruncating(-logits[j] / 2); }
        var loss = new CrossEntropyLoss<T>();
        var target = Targets<T>.FromClasses([0, c - 1]);
        var r = loss.SampleHessianSqrt(f, target);
        var h = loss.SampleHessian(f, target);
        Assert.Equal(new[] { 2, c, c - 1 }, r.ShapeArray);
        for (int n = 0; n < 2; n++)
            for (int a = 0; a < c; a++)
                for (int b = 0; b < c; b++)
                {
                    double rr = 0;
                    for (int k = 0; k < c - 1; k++) rr += double.CreateTruncating(r.Span[(n * c + a) * (c - 1) + k]) * double.CreateTruncating(r.Span[(n * c + b) * (c - 1) + k]);
                    double expected = double.CreateTruncating(h.Span[(n * c + a) * c + b]);
                    Assert.True(Math.Abs(rr - expected) <= tolerance, $"{typeof(T).Name}, C = {c}, sample {n}: (R R^T)[{a}, {b}] = {rr:E6}, Hessian {expected:E6}.");
                }
    }

    [Theory, MemberData(nameof(Logits))]
    public void FactorHasTheHessiansRankAndReproducesIt(double[] logits)
    {
        Check<double>(logits, 1e-15);
        Check<float>(logits, 3e-7);
    }
}
