using CurvNative.NN.Losses;
using CurvNative.Operators;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.Curvature.Problem;

namespace CurvNative.Tests.Curvature;

/// <summary>Damped KFAC and EKFAC inverses against dense inverses.</summary>
public class KfacInverseTests
{
    private static Tensor<double> Identity(int n)
    {
        var i = Tensor<double>.Zeros(n, n);
        for (int k = 0; k < n; k++) i[k, k] = 1;
        return i;
    }

    private static Tensor<double> AddDiagonal(Tensor<double> m, double lambda)
    {
        var r = m.Clone();
        for (int k = 0; k < m.Shape[0]; k++) r[k, k] += lambda;
        return r;
    }

    /// <summary>Dense block-diagonal matrix with blocks (G + dG I) ⊗ (A + dA I) (weight) and G + dG I (bias).</summary>
    private static Tensor<double> DampedDense(KfacOperator<double> kfac, Func<KfacBlock<double>, (double dA, double dG)> damping)
    {
        int p = kfac.Columns;
        var dense = Tensor<double>.Zeros(p, p);
        int offset = 0;
        foreach (var b in kfac.Blocks)
        {
            var (dA, dG) = damping(b);
            var g = AddDiagonal(b.G, dG);
            int o = b.Layer.OutDim;
            if (b.Layer.Weight is not null)
            {
                var a = AddDiagonal(b.A, dA);
                int d = b.Layer.InDim;
                for (int i = 0; i < o; i++)
                    for (int j = 0; j < d; j++)
                        for (int k = 0; k < o; k++)
                            for (int l = 0; l < d; l++)
                                dense[offset + i * d + j, offset + k * d + l] = g[i, k] * a[j, l];
                offset += o * d;
            }
            if (b.Layer.Bias is not null)
            {
                for (int i = 0; i < o; i++)
                    for (int k = 0; k < o; k++) dense[offset + i, offset + k] = g[i, k];
                offset += o;
            }
        }
        return dense;
    }

    private static void AssertInverse(Tensor<double> matrix, Tensor<double> inverse, double tol, string what)
        => AssertRelative(Identity(matrix.Shape[0]), MatMul(inverse, matrix, false, false), tol, what);

    [Theory]
    [InlineData(1e-3)]
    [InlineData(0.5)]
    public void TikhonovHeuristicAndExactDampingInvertTheirMatrices(double lambda)
    {
        var p = Create("mlp", "ce", Reduction.Mean, n: 9);
        var kfac = new KfacOperator<double>(p.Model, p.Loss, p.Data, new KfacOptions { FisherType = FisherType.Type2 });

        AssertInverse(DampedDense(kfac, _ => (lambda, lambda)), kfac.Inverse(lambda).ToDense(), 1e-9, "Tikhonov");

        AssertInverse(AddDiagonal(kfac.ToDense(), lambda), kfac.Inverse(lambda, KfacDamping.Exact).ToDense(), 1e-9, "exact");

        // Bias blocks use plain damping: compare the weight blocks only through a weight-only operator.
        var weights = new KfacOperator<double>(p.Model, p.Loss, p.Data, new KfacOptions { FisherType = FisherType.Type2, ParameterNames = ["0.weight", "2.weight"] });
        var heuristicWeights = DampedDense(weights, b =>
        {
            double trA = 0, trG = 0;
            for (int i = 0; i < b.A.Shape[0]; i++) trA += b.A[i, i];
            for (int i = 0; i < b.G.Shape[0]; i++) trG += b.G[i, i];
            double pi = Math.Sqrt(trA / b.A.Shape[0] / (trG / b.G.Shape[0]));
            return (Math.Max(pi * Math.Sqrt(lambda), 1e-8), Math.Max(Math.Sqrt(lambda) / pi, 1e-8));
        });
        AssertInverse(heuristicWeights, weights.Inverse(lambda, KfacDamping.Heuristic).ToDense(), 1e-9, "heuristic");
    }

    [Fact]
    public void EkfacInverseInvertsTheDampedEkfac()
    {
        var p = Create("cnn", "mse", Reduction.Mean, n: 5);
        var ekfac = new EkfacOperator<double>(p.Model, p.Loss, p.Data, new KfacOptions { FisherType = FisherType.Type2, BatchSize = 2 });
        AssertInverse(AddDiagonal(ekfac.ToDense(), 0.1), ekfac.Inverse(0.1).ToDense(), 1e-9, "EKFAC inverse");
    }

    [Fact]
    public void SingularUndampedFactorIsAClearError()
    {
        var p = Create("mlp", "ce", Reduction.Mean, n: 2);
        var kfac = new KfacOperator<double>(p.Model, p.Loss, p.Data, new KfacOptions { FisherType = FisherType.Type2 });
        var e = Assert.Throws<SingularOperatorException>(() => kfac.Inverse(0));
        Assert.Contains("singular", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => kfac.Inverse(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => kfac.Inverse(double.NaN));
    }

    /// <summary>Cross-entropy's output-gradient factor has the null vector 1, so undamped KFAC and EKFAC are singular
    /// whatever the data: the computed eigenvalue is rounding noise (~1e-18 or ~1e-35 here, of either sign), which the
    /// old `value > 0` test inverted into |x| ~ 1e20..1e63. The relative threshold refuses it; a damping above the
    /// threshold gives a true inverse.</summary>
    [Theory]
    [InlineData("kfac", "mlp")]
    [InlineData("ekfac", "mlp")]
    [InlineData("kfac", "cnn")]
    [InlineData("ekfac", "cnn")]
    public void UndampedCrossEntropyIsRefusedAsSingularAndDampingAboveTheThresholdInverts(string which, string model)
    {
        var p = Create(model, "ce", Reduction.Mean, n: 9);
        var options = new KfacOptions { FisherType = FisherType.Type2 };
        LinearOperator<double> op = which == "kfac" ? new KfacOperator<double>(p.Model, p.Loss, p.Data, options) : new EkfacOperator<double>(p.Model, p.Loss, p.Data, options);
        Func<double, LinearOperator<double>> inverse = op is KfacOperator<double> k ? d => k.Inverse(d, KfacDamping.Exact) : ((EkfacOperator<double>)op).Inverse;

        var e = Assert.Throws<SingularOperatorException>(() => inverse(0));
        Assert.True(e.Eigenvalue <= e.Threshold, e.Message);
        Assert.True(e.Threshold > 0 && e.Threshold < 1e-10 * e.LargestEigenvalue, e.Message);
        Assert.Contains("damping", e.Message);

        double lambda = SingularOperatorException.SuggestedDamping(e.LargestEigenvalue);
        AssertInverse(AddDiagonal(op.ToDense(), lambda), inverse(lambda).ToDense(), 1e-8, $"{which} inverse with damping {lambda}");
    }

    [Fact]
    public void Float32InverseAgreesWithFloat64()
    {
        var p = Create("mlp", "mse", Reduction.Mean, n: 6);
        var k64 = new KfacOperator<double>(p.Model, p.Loss, p.Data, new KfacOptions { FisherType = FisherType.Type2 });
        var model32 = new CurvNative.NN.Modules.Sequential<float>(
            new CurvNative.NN.Modules.Linear<float>("0", 4, 5), new CurvNative.NN.Modules.Tanh<float>(), new CurvNative.NN.Modules.Linear<float>("2", 5, 3));
        foreach (var (a, b) in model32.Parameters().Zip(p.Parameters)) b.Value.Cast<float>().Span.CopyTo(a.Value.Span);
        var data32 = new CurvNative.NN.Data.DataSet<float>(p.Data.X.Cast<float>(), CurvNative.NN.Data.Targets<float>.FromValues(p.Data.Y.Values!.Cast<float>()));
        var k32 = new KfacOperator<float>(model32, new MSELoss<float>(), data32, new KfacOptions { FisherType = FisherType.Type2 });
        AssertRelative(k64.Inverse(0.1).ToDense(), k32.Inverse(0.1).ToDense().Cast<double>(), 1e-4, "float32 vs float64 inverse");
    }
}

public class KfacDeterminismTests
{
    [Fact]
    public void DropoutInTrainingModeIsRejected()
    {
        var rng = new Random(3);
        var model = new CurvNative.NN.Modules.Sequential<double>(new CurvNative.NN.Modules.Linear<double>("0", 4, 6, rng: rng),
            new CurvNative.NN.Modules.Dropout<double>(0.3), new CurvNative.NN.Modules.Linear<double>("2", 6, 3, rng: rng));
        var p = Problem.Create("mlp", "ce", Reduction.Mean);
        var options = new KfacOptions { FisherType = FisherType.Type2 };
        var e = Assert.Throws<InvalidOperationException>(() => new KfacOperator<double>(model, p.Loss, p.Data, options));
        Assert.Contains("not deterministic", e.Message);
        _ = new KfacOperator<double>(model, p.Loss, p.Data, options with { CheckDeterministic = false });
    }
}
