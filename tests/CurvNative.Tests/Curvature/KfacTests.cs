using CurvNative.Autodiff;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Operators.Curvature;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.Curvature.Problem;

namespace CurvNative.Tests.Curvature;

/// <summary>KFAC and EKFAC in their exact regimes, against dense block-diagonal GGN / EF.</summary>
public class KfacTests
{
    private static string[][] Groups(Problem p, bool joint) => p.Model.Modules()
        .Where(m => m is Linear<double> or Conv2d<double>)
        .SelectMany(m => joint ? [m.Parameters().Select(q => q.Name).ToArray()] : m.Parameters().Select(q => new[] { q.Name }))
        .ToArray();

    private static KfacOptions Options(FisherType type, int? batch = null, bool separate = true, KfacApproximation approx = KfacApproximation.Expand)
        => new() { FisherType = type, BatchSize = batch, SeparateWeightAndBias = separate, Approximation = approx };

    [Theory]
    [InlineData(Reduction.Mean, true)]
    [InlineData(Reduction.Sum, true)]
    [InlineData(Reduction.Mean, false)]
    public void Type2EqualsBlockDiagonalGgnForDeepLinearMse(Reduction reduction, bool separate)
    {
        var p = Create("deep-linear", "mse", reduction, n: 7);
        var kfac = new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(FisherType.Type2, batch: 3, separate: separate));
        AssertRelative(p.BlockDiagonal(p.Ggn(), Groups(p, !separate)), kfac.ToDense(), 1e-10, "KFAC vs GGN blocks");
    }

    public static TheoryData<string, string, bool> OnePointCases()
    {
        var d = new TheoryData<string, string, bool>();
        foreach (var m in new[] { "mlp", "cnn" })
            foreach (var l in new[] { "ce", "mse", "bce" })
                foreach (var joint in new[] { false, true })
                    if (m == "mlp" || !joint) d.Add(m, l, joint);
        return d;
    }

    [Theory]
    [MemberData(nameof(OnePointCases))]
    public void Type2EqualsGgnBlocksForOneDataPoint(string model, string loss, bool joint)
    {
        // Conv layers share weights over positions, so only the MLP is exact with one data point;
        // for the CNN only the final linear layer is compared.
        var p = Create(model, loss, Reduction.Mean, n: 1);
        var names = model == "mlp" ? null : new[] { "4.weight", "4.bias" };
        var kfac = new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(FisherType.Type2, separate: !joint) with { ParameterNames = names });
        var ggn = p.BlockDiagonal(p.Ggn(), Groups(p, joint));
        AssertRelative(names is null ? ggn : p.Slice(ggn, names), kfac.ToDense(), 1e-10, "type-2 KFAC, N = 1");
        var ekfac = new EkfacOperator<double>(p.Model, p.Loss, p.Data, Options(FisherType.Type2, separate: !joint) with { ParameterNames = names });
        AssertRelative(names is null ? ggn : p.Slice(ggn, names), ekfac.ToDense(), 1e-9, "EKFAC, N = 1");
    }

    [Theory]
    [InlineData("ce")]
    [InlineData("mse")]
    [InlineData("bce")]
    public void EmpiricalEqualsEmpiricalFisherBlocksForOneDataPoint(string loss)
    {
        var p = Create("mlp", loss, Reduction.Mean, n: 1);
        var kfac = new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(FisherType.Empirical));
        AssertRelative(p.BlockDiagonal(p.EmpiricalFisher(), Groups(p, false)), kfac.ToDense(), 1e-10, "empirical KFAC, N = 1");
    }

    [Fact]
    public void ExpandIsExactForSequenceLinearAndPositionwiseConvNetworks()
    {
        var rng = new Random(7);
        // Linear layers on [N, S, D] with a loss on every position: positions act as samples.
        var seq = new Sequential<double>(new Linear<double>("0", 3, 4, rng: rng), new Linear<double>("1", 4, 2, rng: rng));
        var p1 = new Problem
        {
            Model = seq, Loss = new MSELoss<double>(), Name = "sequence",
            Data = new DataSet<double>(Rand(rng, [5, 6, 3]), Targets<double>.FromValues(Rand(rng, [5, 6, 2]))),
        };
        var k1 = new KfacOperator<double>(p1.Model, p1.Loss, p1.Data, Options(FisherType.Type2, batch: 2));
        AssertRelative(p1.BlockDiagonal(p1.Ggn(), Groups(p1, false)), k1.ToDense(), 1e-10, "expand, sequence");

        // A k x k convolution followed by a 1x1 convolution: each output position depends on one
        // position of the first layer's output.
        var conv = new Sequential<double>(new Conv2d<double>("0", 2, 3, 3, 1, 1, rng: rng), new Conv2d<double>("1", 3, 2, 1, rng: rng), new Flatten<double>());
        var p2 = new Problem
        {
            Model = conv, Loss = new MSELoss<double>(Reduction.Sum), Name = "conv",
            Data = new DataSet<double>(Rand(rng, [3, 2, 4, 4]), Targets<double>.FromValues(Rand(rng, [3, 32]))),
        };
        var k2 = new KfacOperator<double>(p2.Model, p2.Loss, p2.Data, Options(FisherType.Type2));
        AssertRelative(p2.BlockDiagonal(p2.Ggn(), Groups(p2, false)), k2.ToDense(), 1e-10, "expand, conv");
    }

    [Fact]
    public void ReduceIsExactWhenPositionsAreAveragedBeforeTheLoss()
    {
        var rng = new Random(8);
        var model = new Sequential<double>(new Conv2d<double>("0", 2, 3, 3, 1, 0, rng: rng), new AvgPool2d<double>(3), new Flatten<double>(), new Linear<double>("3", 3, 2, rng: rng));
        var p = new Problem
        {
            Model = model, Loss = new MSELoss<double>(), Name = "reduce",
            Data = new DataSet<double>(Rand(rng, [4, 2, 5, 5]), Targets<double>.FromValues(Rand(rng, [4, 2]))),
        };
        var kfac = new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(FisherType.Type2, approx: KfacApproximation.Reduce));
        AssertRelative(p.BlockDiagonal(p.Ggn(), Groups(p, false)), kfac.ToDense(), 1e-10, "reduce");
        var expand = new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(FisherType.Type2));
        Assert.True(RelativeError(p.BlockDiagonal(p.Ggn(), Groups(p, false)), expand.ToDense()) > 1e-3, "expand should not be exact here");
    }

    [Fact]
    public void MonteCarloConvergesToType2()
    {
        var p = Create("mlp", "ce", Reduction.Mean, n: 6);
        var type2 = new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(FisherType.Type2)).ToDense();
        double Error(int samples) => RelativeError(type2,
            new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(FisherType.MonteCarlo) with { McSamples = samples, Seed = 3 }).ToDense());
        double few = Error(10), many = Error(1000);
        Assert.True(many < 0.1, $"MC KFAC with 1000 samples is {many:E2} from type-2");
        Assert.True(many < few / 3, $"MC KFAC error {few:E2} (10 samples) vs {many:E2} (1000)");
    }

    [Fact]
    public void ForwardOnlyIsIdentityKroneckerInputCovariance()
    {
        var p = Create("mlp", "mse", Reduction.Sum, n: 5);
        var kfac = new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(FisherType.ForwardOnly));
        var first = kfac.Blocks[0];
        int o = first.Layer.OutDim, d = first.Layer.InDim;
        // A = (1/N) X^T X for the first layer.
        var expectedA = TensorOps.Affine(TensorOps.MatMul(p.Data.X, p.Data.X, true, false), 1.0 / 5, 0);
        AssertRelative(expectedA, first.A, 1e-13, "A");
        for (int i = 0; i < o; i++)
            for (int j = 0; j < o; j++) Assert.Equal(i == j ? 1.0 : 0.0, first.G[i, j]);
        Assert.Equal(d, first.A.Shape[0]);
    }

    [Fact]
    public void ExactFunctionalsMatchTheDenseMatrix()
    {
        var p = Create("cnn", "ce", Reduction.Mean, n: 4);
        var kfac = new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(FisherType.Type2, batch: 3));
        var dense = kfac.ToDense();
        int n = dense.Shape[0];
        double trace = 0, frob = 0;
        for (int i = 0; i < n; i++) trace += dense[i, i];
        foreach (var v in dense.Span) frob += v * v;
        Assert.Equal(trace, kfac.Trace(), 1e-10 * Math.Abs(trace));
        Assert.Equal(Math.Sqrt(frob), kfac.FrobeniusNorm(), 1e-10 * Math.Sqrt(frob));

        // The GGN factor G of the last layer has rank <= N (C - 1) < O here, and CE's Hessian is singular: -inf.
        Assert.Equal(double.NegativeInfinity, kfac.LogDeterminant());
        Assert.Equal(0, kfac.Determinant());

        // A well-conditioned case: dense log-determinant by Cholesky.
        var q = Create("mlp", "mse", Reduction.Sum, n: 9);
        var k2 = new KfacOperator<double>(q.Model, q.Loss, q.Data, Options(FisherType.Type2) with { ParameterNames = ["0.weight"] });
        var d2 = k2.ToDense();
        var chol = d2.Clone();
        CurvNative.Native.Lapack.Cholesky<double>(d2.Shape[0], chol.Span);
        double logdet = 0;
        for (int i = 0; i < d2.Shape[0]; i++) logdet += 2 * Math.Log(chol[i, i]);
        Assert.Equal(logdet, k2.LogDeterminant(), 1e-9 * Math.Abs(logdet));
    }

    /// <summary>EKFAC's Lambda is the exact diagonal of the layer's GGN block in the Kronecker eigenbasis, for a linear
    /// layer and for a convolution (weights shared over positions, KFAC-expand), separately and jointly with the bias
    /// (u then spans [W | b]).</summary>
    [Theory]
    [InlineData("mlp", "2", false)]
    [InlineData("cnn", "0", false)]
    [InlineData("cnn", "0", true)]
    public void EkfacEigenvaluesAreTheGgnDiagonalInTheKroneckerEigenbasis(string model, string layer, bool joint)
    {
        var p = Create(model, "ce", Reduction.Mean, n: 6);
        string[] names = joint ? [$"{layer}.weight", $"{layer}.bias"] : [$"{layer}.weight"];
        var options = Options(FisherType.Type2, batch: 4, separate: !joint) with { ParameterNames = names };
        var ekfac = new EkfacOperator<double>(p.Model, p.Loss, p.Data, options);
        var block = ekfac.Blocks.Single();
        var ggn = p.Slice(p.Ggn(), names);
        int o = block.Layer.OutDim, d = block.Layer.InDim, da = block.Layer.FactorInDim;
        double scale = block.Lambda!.Span.ToArray().Max();
        for (int i = 0; i < o; i++)
            for (int j = 0; j < da; j++)
            {
                // u = q_G,i ⊗ q_A,j laid out as the parameters: W [o, d] row-major, then (jointly) b [o] from column d.
                var u = new double[ggn.Shape[0]];
                for (int a = 0; a < o; a++)
                {
                    for (int b = 0; b < d; b++) u[a * d + b] = block.QG[a, i] * block.QA![b, j];
                    if (joint) u[o * d + a] = block.QG[a, i] * block.QA![d, j];
                }
                double quad = 0;
                for (int r = 0; r < u.Length; r++)
                    for (int c = 0; c < u.Length; c++) quad += u[r] * ggn[r, c] * u[c];
                Assert.True(Math.Abs(quad - block.Lambda[i, j]) <= 1e-10 * scale, $"{model} layer {layer}: Lambda[{i},{j}] = {block.Lambda[i, j]} vs {quad}");
            }
    }

    [Fact]
    public void FactorsFedFromATrainingLoopEqualTheOperatorsEmpiricalFactors()
    {
        var p = Create("mlp", "ce", Reduction.Mean, n: 8);
        var reference = new KfacOperator<double>(p.Model, p.Loss, p.Data, Options(FisherType.Empirical));
        var layers = reference.Blocks.Select(b => b.Layer).ToList();
        var acc = new KfacFactorAccumulator<double>(layers, KfacApproximation.Expand);
        using (acc.Attach(KfacFactorAccumulator<double>.EmpiricalScale(p.Loss, p.Data.Count, 3)))
            foreach (var batch in p.Data.Batches(3))
            {
                // An ordinary training step: loss of the batch, gradient of the parameters.
                var loss = p.Loss.Forward(p.Model.Forward(Var<double>.Constant(batch.X)), batch.Y);
                Autograd.Grad(loss, p.Parameters.Select(q => q.Var).ToList());
            }
        var fed = KfacOperator<double>.FromAccumulator(p.Model, acc);
        AssertRelative(reference.ToDense(), fed.ToDense(), 1e-12, "factors from hooks");
    }

    [Fact]
    public void UnsupportedLayersAreRejectedByName()
    {
        var rng = new Random(1);
        var model = new Sequential<double>(new Linear<double>("0", 4, 5, rng: rng), new LayerNorm<double>("1", 5), new Linear<double>("2", 5, 3, rng: rng));
        var p = Create("mlp", "ce", Reduction.Mean);
        var e = Assert.Throws<ArgumentException>(() => new KfacOperator<double>(model, p.Loss, p.Data, Options(FisherType.Type2)));
        Assert.Contains("1.weight", e.Message);
        var ok = new KfacOperator<double>(model, p.Loss, p.Data, Options(FisherType.Type2) with { ParameterNames = ["0.weight", "2.weight", "2.bias"] });
        Assert.Equal(4 * 5 + 5 * 3 + 3, ok.Columns);
    }
}
