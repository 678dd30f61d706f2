using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Operators.Curvature;

/// <summary>
/// The Hessian of the total loss with respect to the parameters, H = d^2 L / d theta^2, applied
/// matrix-free by forward-over-reverse differentiation: H v = d/d eps grad L(theta + eps v) at 0, the JVP of
/// the recorded gradient graph (Pearlmutter 1994), for a chunk of columns in one stacked forward sweep.
/// Per batch: one forward and one graph-recording backward pass, shared by all columns.
/// </summary>
public sealed class HessianOperator<T> : CurvatureOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public HessianOperator(Module<T> model, Loss<T> loss, DataSet<T> data, CurvatureOptions? options = null)
        : base(model, loss, data, options, positiveSemiDefinite: false) => CheckDeterminism();

    private protected override (Func<Tensor<T>[], Tensor<T>[]>, IReadOnlyList<Var<T>>) PrepareBatch(Batch<T> batch, int start)
    {
        var leaves = Leaves;
        var loss = Loss.Forward(Model.Forward(Var<T>.Constant(batch.X)), batch.Y);
        var grad = Autograd.Grad(loss, leaves, createGraph: true);
        return (v => Autograd.JvpStacked(grad, leaves, v), grad);
    }
}
