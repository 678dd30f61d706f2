using CurvNative.Autodiff;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Operators;
using CurvNative.Operators.Curvature;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests;

/// <summary>The README's tour, run as written (with concrete data), so the README stays true.</summary>
public class ReadmeTourTests
{
    [Fact]
    public void TourRunsAndItsTwoHessianProductsAgree()
    {
        var rng = new Random(0);
        var x = Tensor<double>.Zeros(40, 64);
        for (int i = 0; i < x.Length; i++) x.Span[i] = rng.NextDouble();
        var labels = Enumerable.Range(0, 40).Select(i => i % 10).ToArray();

        var model = new Sequential<double>(new Linear<double>("0", 64, 32), new Tanh<double>(), new Linear<double>("2", 32, 10));
        var loss = new CrossEntropyLoss<double>(Reduction.Mean);
        var data = new DataSet<double>(x, Targets<double>.FromClasses(labels));

        var hessian = new HessianOperator<double>(model, loss, data, new CurvatureOptions { BatchSize = 128 });
        var ggn = new GgnOperator<double>(model, loss, data);
        var v = Tensor<double>.Zeros(hessian.Columns);
        for (int i = 0; i < v.Length; i++) v.Span[i] = rng.NextDouble() - 0.5;
        var vs = Tensor<double>.Zeros(hessian.Columns, 3);
        Tensor<double> hv = hessian.MatVec(v);
        Tensor<double> gv = ggn.MatMat(vs);

        var kfac = new KfacOperator<double>(model, loss, data, new KfacOptions { FisherType = FisherType.Type2 });
        double logdet = kfac.LogDeterminant();
        var preconditioner = kfac.Inverse(damping: 1e-3, KfacDamping.Heuristic);

        var damped = ggn + new IdentityOperator<double>(ggn.InputSpace) * 0.1;
        Tensor<double> dense = damped.ToDense();

        var w = model.Parameters().Select(p => p.Var).ToList();
        var tangents = ParameterVector.Split(v, model.Parameters().ToList()).Select(Var<double>.Constant).ToList();
        var l = loss.Forward(model.Forward(Var<double>.Constant(x)), data.Y);
        var g = Autograd.Grad(l, w, createGraph: true);
        var hvp = Autograd.Jvp(g, w, tangents);
        var stacks = hessian.InputSpace.SplitColumns(v.Reshape(v.Length, 1), 0, 1);
        Tensor<double>[] hvps = Autograd.JvpStacked(g, w, stacks);

        Tests.Autodiff.FiniteDifference.AssertClose(hv, ParameterVector.Flatten(hvp), 1e-10, "operator HVP vs forward-over-reverse");
        Tests.Autodiff.FiniteDifference.AssertClose(hv, hessian.InputSpace.Join(hvps.Select(h => h.Reshape(h.Shape[1..].ToArray())).ToList()), 1e-10, "operator HVP vs stacked forward-over-reverse");
        Assert.Equal(0.0, gv.Span.ToArray().Max(Math.Abs));
        Assert.False(double.IsNaN(logdet));
        Assert.Equal(hessian.Columns, preconditioner.Rows);
        Assert.Equal(0.1 + ggn.ToDense()[0, 0], dense[0, 0], 1e-12);
    }
}
